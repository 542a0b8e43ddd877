// Package engine runs kernels over index ranges on a team of worker
// processes that share memory, the way OpenMP's parallel for runs a loop on
// a team of threads.
//
// # Model
//
// A program calls Main first thing in main. It then starts a Team; the
// process that does is the coordinator. Start re-executes the program
// (/proc/self/exe) once per worker; in those processes Main never returns
// but serves jobs. Kernels are functions registered by name at package
// initialization — Go cannot send a function to another process, so every
// process of the program registers the same kernels and a job names one —
// and registration returns a typed handle through which the program runs
// the kernel, so a call site names neither the kernel nor its types:
//
//	var scale = engine.Register("scale", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
//		x := a.X.Data()
//		for i := lo; i < hi; i++ {
//			x[i] *= a.S
//		}
//		return nil
//	}, engine.Idempotent())
//
//	func main() {
//		engine.Main()
//		team, err := engine.Start() // one worker process per usable CPU
//		...
//		err = scale.For(ctx, team, n, ScaleArgs{X: x, S: 2})
//	}
//
// Every call takes functional options, each named for what it sets and
// documented with its default: Start takes TeamOptions (Workers, a Backend —
// Process, the default, or Goroutine — Primary, Pin, Spin, ShareNode,
// HelloTimeout, CancelGrace, StallLimit, GOMAXPROCS, MaxArgs, Env, Stdout,
// Stderr), Register and RegisterReduce take KernelOptions (Idempotent,
// StallLimit), and For, Reduce and Partials take Options (the schedules,
// Range, ReportProgress). StallLimit is both a TeamOption and a
// KernelOption: the team's limit, or one kernel's in its place. A later
// option wins over an earlier one of the same kind (Env adds to it); a value
// out of range is an error wrapping ErrBadOption from the call, never a
// panic:
//
//	team, err := engine.Start(engine.Workers(8), engine.Primary(*primary), engine.Pin(true))
//	gteam, err := engine.Start(engine.Goroutine, engine.Workers(8))
//
// For splits [0, n) into chunks and runs the kernel over them on every
// participant until none are left. Arguments are encoded with
// encoding/gob once per job (not at all when they equal the previous job's),
// so large data belongs in shared memory: an *array.Array or *value.Value
// argument crosses as its path and is attached once per worker. A worker
// keeps the segments it attached for later jobs, up to a quarter of its
// open-file limit (64 at most); beyond that it closes those it used least
// recently, never one the current job uses. A job whose own arguments name
// more segments than the worker can open fails with ErrFileLimit. Kernels
// write their results into shared arrays; a kernel registered with
// RegisterReduce returns a partial result per chunk, which Reduce combines
// (Sum, Min, Max, or any associative Combine).
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
// on another. No pipe, socket or encoding per chunk. What a short job costs
// is cache lines moving between CPUs, so a job writes as few as it can: the
// generation and the claim word share one line, only the descriptor words
// that changed are rewritten, and the done count is never reset. Idle
// workers spin for Spin — polling without pause for a few
// microseconds when the team's threads fit the CPUs, then yielding the CPU
// between polls so that an oversubscribed machine still makes progress —
// then sleep on a futex (waking a halted core costs tens of microseconds on
// virtual machines). A worker that is not
// pinned (Pin) and finds its CPU shared — its yields keep returning
// late, or it was woken on the CPU of a coordinator that runs chunks — moves
// itself to a CPU where no other participant of the team (a worker, or the
// coordinator with Primary) was last seen: the OS
// does not separate two threads that each run briefly and yield to the
// other, and a short job on one CPU costs several times what it costs on
// two. An empty For on two cores
// takes about 0.6 µs; with Primary, where the coordinator runs
// chunks itself like OpenMP's primary thread, about 0.4 µs (two cache-line
// transfers between the CPUs, and the calls around them).
//
// A team may have more workers than CPUs (a shared node, a cgroup quota,
// ranks oversubscribed on purpose: with ShareNode, the workers of the
// teams on the node count together). Then the static blocks of workers that
// are not running are taken by those that are, so no job waits for a time
// slice; and since page tables are per process, the workers of such a team
// map each shared array whole when they first attach it
// (shm.PrefaultAttached), instead of faulting in the pages of every block
// they take over, job after job.
//
// # Failures
//
// A kernel that returns an error or panics stops the job: no new chunks
// are claimed, and For returns a *WorkerError with the participant, its
// pid, the chunk, the error or panic value and the stack. A worker process
// that dies (SIGKILL, the OOM killer, a fault in cgo) is noticed at once (a
// goroutine per worker waits for it and wakes the coordinator). The chunk
// it was running is run again if the kernel was registered Idempotent (once:
// a chunk whose worker dies again is not run a third time); otherwise it is
// lost: the job fails with ErrWorkerDied naming the chunk and the signal.
// Either way the dead workers are replaced and the job goes on: every chunk
// nobody had claimed is run before For returns, even when every worker died,
// and the error names every lost chunk (one *WorkerError each, joined when
// there are several: see WorkerErrors), so the elements outside the named
// chunks are exactly as a complete job leaves them. A job whose workers die
// in several recoveries in a row without finishing a chunk is given up with
// ErrWorkerDied. A kernel that fails (returns an error or panics) is
// different: the job stops, and chunks not yet claimed are not run. A dead
// worker is replaced before the next job: a job that starts after a worker
// process has exited (once it could be waited for) runs on a full team,
// because each worker publishes its death through the kernel (a robust-futex
// word the kernel marks when the process exits, read before each job at the
// cost of one cached load per worker), not only through the goroutine that
// waits for it. A replacement killed by a signal before it reports ready is
// started again, up to three times in a row; one that exits with a status
// (a program without Main) is not, and the job fails with ErrStart or
// ErrNoMain.
//
// A worker process that stops making progress — stopped by a signal,
// stuck in a system call, asleep in a kernel — is handled like one that
// died once it has gone StallLimit (a minute by default) without
// progress while the job waits for it: while the coordinator sleeps
// waiting for a job (never while it spins, so a short job pays nothing)
// it watches each worker's slot (chunks claimed and finished, and a word
// Ctx.Progress bumps) and the worker process's CPU time, and kills a
// worker that holds one of the job's chunks, or has not joined the job
// while chunks nobody claimed remain, once it has had none of those for
// the limit. So a job never waits for ever on a stopped worker, even when
// its context has no deadline. A kernel that computes is never stalled,
// however long its chunk; one that waits (I/O, another process) longer
// than the limit without using CPU time calls Ctx.Progress, or is
// registered with the StallLimit option. StallLimit says exactly
// what counts.
//
// When the context passed to For ends, no new chunks are claimed and For
// returns ctx.Err() once running chunks return — kernels poll Ctx.Err — or
// after CancelGrace, when the workers still busy are killed and later
// replaced. A job never waits on a dead worker, nor past the stall limit on
// a stopped one. Not guaranteed: a kernel that loops for ever uses CPU time
// and is not stalled (end it with the context), and the coordinator itself
// (Primary) and goroutine participants are not watched.
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
// # Built on the team
//
// Package engine/pool runs many calls of a function on independent inputs
// on a team's workers, like Python's multiprocessing.Pool (Map, Imap,
// Apply, Submit), and package engine/process runs one function in a new
// process, like Python's multiprocessing.Process; both start, and die with
// their parent, the way a team worker does. In a team's workers (and in
// such a process) the default log/slog logger writes to stderr with the
// process's name (worker=N, process=NAME) and pid, and ProcessName returns
// the name. ps, top and pgrep show them after the program and their role,
// "PROGRAM: worker N" or "PROGRAM: NAME" (their argv[0], and their kernel
// name in its 15 bytes), not as "exe".
//
// # Concurrency
//
// A Team is safe for concurrent use: jobs run one at a time, in the order
// their calls take the team's lock (a pool holds the team while its session
// runs). Kernel handles are safe for concurrent use. Register and
// RegisterReduce run at package initialization.
//
// # Imports
//
// engine imports shm (its control block is an anonymous segment),
// internal/futex, internal/proc and internal/cpus (the cgroup CPU quota),
// and its own internal packages (engine/internal/...: the re-exec roles and
// child bootstrap, the codec of values that cross, the name registry,
// remote errors, spinning, the supervision hooks the pool uses, CPU
// placement, the workers' life words, ReportProgress's timer and the
// shmpartrace tracing). It imports no array, value or queue — arguments
// holding them cross through gob as segment references — and none of the
// packages built on it.
package engine
