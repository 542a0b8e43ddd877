// Package pool runs many calls of a function on independent inputs on the
// worker processes of a team, like Python's multiprocessing.Pool.
//
// Go cannot send a function to another process, so a function is registered
// by name at package initialization — every process of the program registers
// the same ones — and Register returns a typed handle through which the
// program calls it, so a call site names neither the function nor its types:
//
//	var area = pool.Register("area", func(ctx context.Context, r Rect) (float64, error) {
//		return r.W * r.H, nil
//	})
//
//	func main() {
//		engine.Main() // first: in a worker process this serves tasks
//		p, err := pool.New(pool.Workers(4)) // Python's Pool(4)
//		...
//		defer p.Close()
//		areas, err := area.Map(ctx, p, rects, pool.ChunkSize(100))
//	}
//
// Map returns results in input order; Imap streams them in order from an
// iter.Seq of any length with bounded memory; ImapUnordered yields them as
// they complete, with their input's index; Apply runs one task; Submit
// returns a Future (Wait, Result, Done), and AsCompleted yields futures as
// they finish. Several arguments travel as one struct (Python's starmap).
// Options: ChunkSize (batches of ceil(n/(4·workers)) by default for Map, an
// adaptive size aiming at a millisecond of work for streams) and Timeout per
// call, and Progress (with ProgressBar) for Map; MaxTasksPerWorker,
// QueueSize, StallLimit and Initializer per pool.
// An initializer (RegisterInit) runs once in each worker process before it
// runs tasks, Python's Pool(initializer=f, initargs=…); if it fails, New
// fails with its error (ErrInit), or, in a worker that replaced one, every
// call of the pool does.
//
// A pool made by New owns its team; one made by On shares a team with For,
// Reduce and other pools (see Pool for how they take turns).
//
// # How it works
//
// A Map of a function whose input and result are flat types (numbers,
// bools, and arrays and structs of them), with no Timeout, runs as a direct
// call when the pool has nothing else to do: one For of the team, on its
// hot path. The inputs are copied into a shared area, each worker process
// runs the tasks of the chunks it claims in place there and marks each
// task's state before and after it, and the results are copied out: a Map
// of two tasks costs little more than an empty For. (Teams with
// engine.Primary, and pools with MaxTasksPerWorker, always use
// sessions.) What a direct call cannot finish — the tasks of a worker
// process that died, or of one whose journal of task errors filled up —
// runs through a session, described next.
//
// Every other call runs in a session. A process team's pool gives each worker process a task queue of its own
// and shares one result queue (package queue, in anonymous shared memory). A
// dispatcher goroutine in the coordinator cuts each call's inputs into
// batches (ChunkSize), encodes a batch as late as possible for the worker it
// sends it to, keeps a few batches per worker in flight — four while batches
// take tens of microseconds, two below a millisecond, one above, so that
// long batches do not wait behind each other — and decodes the results into
// the call's output as they come back. The workers serve their queues inside
// one For of an internal kernel — a session — which starts with the first
// call and ends after the pool has been idle for a few milliseconds
// (Linger): the workers are awake while calls follow each other, and a For
// on the same team waits at most that long.
//
// Values cross as gob streams, one per worker and direction, so a type's
// description crosses once per session; flat types (numbers, bools, arrays
// and structs of them) are copied byte for byte.
//
// # Faults
//
// A task that returns an error or panics fails alone (a *TaskError with the
// worker's stack for a panic); the other tasks go on. Each worker records
// the task it runs in shared memory, and journals each task's result (or
// failure) there as the task finishes — a direct call writes it in place, a
// session's worker in its stage — so when a worker process dies (SIGKILL,
// the OOM killer, a crash in cgo) nothing it finished is lost: its results
// are delivered, the task it was running is run again if the function is
// Idempotent, or fails with engine.ErrWorkerDied, and the tasks it had not
// started run on another worker. (The journal costs a flat result a copy;
// a gob-encoded result is encoded once more, on its own, which a function
// of tiny tasks feels: make its types flat where speed matters.) The
// session then ends and the next one replaces the dead worker, so the
// pool stays usable with a full team. No task is lost or delivered twice. A
// task that runs longer than its Timeout fails with ErrTaskTimeout and its
// worker is killed and replaced: it may be in a loop that never looks at its
// context. The Timeout covers every moment of a task's life, waiting
// included: a worker process that keeps a call's tasks waiting longer than
// it, holding them (stopped between tasks) or not (stopped outside the
// session, so that a session cannot start or end), is killed too, and no
// task is blamed. A worker process stopped (SIGSTOP) while the pool has work on it
// is killed once it has stayed stopped for the pool's StallLimit (by
// default its team's engine.StallLimit, a minute) and handled as
// dead, so no call waits on it, Timeout or not. When a call's context ends, the call returns ctx.Err() at once;
// its queued batches are dropped, its running tasks see their context done,
// and a worker still running one after the team's engine.CancelGrace
// is killed.
//
// The queues of a session cannot lose their writers while the coordinator
// lives (it writes to every queue the pool reads), so the pool never sees
// queue.ErrPeerGone from them; a worker process sees it on its task queue
// when the coordinator died, and ends its session. Should the result queue
// fail all the same (its handle broken), the pool cannot go on: the calls
// running, and every later call, fail at once with an error that wraps the
// queue's.
//
// # Goroutine teams
//
// On a Goroutine team the pool runs tasks on goroutines, without encoding:
// the baseline for the process pool. A timed-out task there cannot be
// killed: it fails with ErrTaskTimeout, its goroutine is abandoned (it ends
// when the function returns) and another takes its place; MaxTasksPerWorker
// does nothing.
//
// # Concurrency
//
// Register runs at initialization. A *Pool, a *Func and a *Future are safe
// for concurrent use; calls from several goroutines share the workers.
//
// # Imports
//
// pool imports engine (the team it runs on, its sentinels and PanicError),
// queue (the task and result queues), shm (its shared state segment), and
// engine's internal packages: supervise (the team's hooks: worker exits and
// kills), codec, registry, remote, reexec and spin. engine does not import
// it.
package pool
