// Package engine runs kernels over index ranges on a team of worker
// processes that share memory, the way OpenMP's parallel for runs a loop on
// a team of threads.
//
// # Model
//
// A program calls Main first thing in main. It then starts a Team; the
// process that does is the coordinator. Start re-executes the program
// (/proc/self/exe) once per worker; in those processes Main never returns
// but serves jobs. Kernels are functions registered by name at init time —
// Go cannot send a function to another process, so every process of the
// program registers the same kernels and a job names one:
//
//	func init() {
//		engine.Register("scale", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
//			x := a.X.Data()
//			for i := lo; i < hi; i++ {
//				x[i] *= a.S
//			}
//			return nil
//		}, engine.Idempotent())
//	}
//
//	func main() {
//		engine.Main()
//		team, err := engine.Start(engine.Config{})
//		...
//		err = team.For(ctx, "scale", n, ScaleArgs{X: x, S: 2})
//	}
//
// For splits [0, n) into chunks and runs the kernel over them on every
// participant until none are left. Arguments are encoded with
// encoding/gob once per job (not at all when they equal the previous job's),
// so large data belongs in shared memory: an *array.Array or *value.Value
// argument crosses as its path and is attached once per worker. Kernels
// write their results into shared arrays; Reduce combines per-chunk partial
// results (Sum, Min, Max, or any associative Combine).
//
// # Schedules
//
// Static (the default) gives participant i the i-th of Workers near-equal
// contiguous blocks, the best for uniform, bandwidth-bound loops. Dynamic
// hands out fixed-size chunks from a shared counter, Guided shrinking ones;
// both balance irregular work. Deterministic cuts the range at multiples of a
// grain counted from 0 of the global range and makes Reduce fold the
// partials in chunk order, so a floating-point sum is bitwise identical at
// any team size; with Range a job covers a slice of a larger index space,
// which is how one team per node of a hybrid (MPI) run takes its share, and
// Partials returns the per-chunk partials for a global fold.
//
// A job ends when its chunks are done, not when every worker has looked at
// it: a worker that is descheduled or asleep when a job is posted finds
// nothing left and waits for the next one, and a static block whose owner
// has not shown up when another worker process is done is taken by that
// one. (The coordinator, as primary participant, and the goroutine backend
// keep to their own blocks.) Ctx.Worker names the participant that runs a
// chunk.
//
// # Hot path
//
// Coordinator and workers share one control block, an anonymous memory
// segment (a memfd: nothing to leak in /dev/shm) laid out in control.go. To
// post a job the coordinator writes a descriptor and bumps a generation
// word; participants claim chunks with a compare-and-swap on a word that
// packs the generation with the next chunk index, and count finished chunks
// on another. No pipe, socket or encoding per chunk. Idle workers spin for
// Config.Spin, yielding the CPU between polls so that an oversubscribed
// machine still makes progress, then sleep on a futex (waking a halted core
// costs tens of microseconds on virtual machines). A worker that is not
// pinned (Config.Pin) and finds its CPU shared — its yields keep returning
// late, or it was woken on the CPU of a coordinator that runs chunks — moves
// itself to a CPU where no other worker of the team was last seen: the OS
// does not separate two threads that each run briefly and yield to the
// other, and a short job on one CPU costs several times what it costs on
// two. An empty For on two cores
// takes about a microsecond; with Config.Primary, where the coordinator runs
// chunks itself like OpenMP's primary thread, a few hundred nanoseconds.
//
// # Failures
//
// A kernel that returns an error or panics stops the job: no new chunks
// are claimed, and For returns a *WorkerError with the participant, its
// pid, the chunk, the error or panic value and the stack. A worker process
// that dies (SIGKILL, the OOM killer, a fault in cgo) is noticed at once (a
// goroutine per worker waits for it and wakes the coordinator). The chunk
// it was running is run again by another participant if the kernel was
// registered Idempotent; otherwise the job fails with ErrWorkerDied naming
// the chunk and the signal. Work nobody had claimed is always finished. The
// dead worker is replaced before the next job, which runs on a full team.
// When the context passed to For ends, no new chunks are claimed and For
// returns ctx.Err() once running chunks return — kernels poll Ctx.Err — or
// after Config.CancelGrace, when the workers still busy are killed and later
// replaced. A job never waits on a dead worker.
//
// Workers die with the coordinator, even when it is killed with SIGKILL:
// they are started with PDEATHSIG from one locked OS thread that never exits
// (PDEATHSIG follows the forking thread, golang/go#27505), and each watches a
// pipe whose write end only the coordinator holds. A program that forgets
// Main would have each worker run main again and start teams of its own;
// instead Start, reached in a worker, ends that process at once, and the
// coordinator's Start returns ErrNoMain.
//
// The Goroutine backend runs the same kernels with the same API in the
// coordinator's process, without encoding: the baseline the process team is
// measured against.
//
// # Processes
//
// Package engine/process runs one registered function in a new process,
// like Python's multiprocessing.Process; it is started, and dies with its
// parent, the same way as a team worker. In a team's workers (and in such
// a process) the default log/slog logger writes to stderr with the
// process's name (worker=N, process=NAME) and pid, and ProcessName returns
// the name.
//
// # Pool
//
// For irregular work — many calls of a function on independent inputs —
// a Pool runs tasks on a team's workers, like Python's multiprocessing.Pool.
// Functions are registered by name with typed input and output
// (RegisterFunc[In, Out]); since Go methods cannot have type parameters, the
// calls are generic functions that take the pool:
//
//	func init() {
//		engine.RegisterFunc("area", func(ctx context.Context, r Rect) (float64, error) {
//			return r.W * r.H, nil
//		})
//	}
//
//	pool, err := engine.NewPool(team)
//	areas, err := engine.Map[Rect, float64](ctx, pool, "area", rects)
//
// Map returns results in input order; Imap streams them in order from an
// iter.Seq of any length with bounded memory; ImapUnordered yields them as
// they complete, with their input's index; Apply runs one task; ApplyAsync
// returns a Future (Wait, Result, Done), and AsCompleted yields futures as
// they finish. Several arguments travel as one struct (Python's starmap).
// Options: Chunksize (batches of ceil(n/(4·workers)) by default for Map, an
// adaptive size aiming at a millisecond of work for streams), Timeout per
// task, MaxTasksPerWorker, QueueSize.
//
// Inputs and results cross between processes as gob streams, one per worker
// and direction (a type's description crosses once), or byte for byte for
// flat types (numbers, bools, arrays and structs of them). A value that
// cannot be encoded is an error before anything runs. A task's error or
// panic fails that task only (a *TaskError, with the stack for a panic);
// Map returns the others' results with a TaskErrors. A worker process that
// dies fails (or, for Idempotent functions, runs again) exactly the tasks it
// held — each worker records the task it runs in shared memory — and is
// replaced; a task over its Timeout fails with ErrTaskTimeout and its worker
// is killed and replaced. A call whose context ends returns at once.
//
// The pool runs as a job of the team (a session), from its first call until
// it has been idle for PoolLinger; in between, For on the same team waits.
// Small calls cost tens of microseconds; a Map of tiny tasks runs tens of
// millions of them per second on two cores. See Pool for the details.
package engine
