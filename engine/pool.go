package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Pool runs tasks — calls of functions registered with RegisterFunc, one
// input each — on a team's workers, like Python's multiprocessing.Pool: Map
// (ordered results), Imap and ImapUnordered (streams, bounded memory),
// Apply, and ApplyAsync (a Future). Go methods cannot have type
// parameters, so these are functions that take the Pool.
//
// # How it works
//
// A process team's pool gives each worker process a task queue of its own and
// shares one result queue (package queue, in anonymous shared memory). A
// dispatcher goroutine in the coordinator cuts each call's inputs into
// batches (Chunksize), encodes a batch as late as possible for the worker
// it sends it to, keeps a few batches per worker in flight — four while
// batches take tens of microseconds, two below a millisecond, one above, so
// that long batches do not wait behind each other — and decodes the results
// into the call's output as they come back. The workers serve their
// queues inside one For of an internal kernel — a session — which starts
// with the first call and ends after the pool has been idle for a few
// milliseconds (PoolLinger): the workers are awake while calls follow each
// other, and a For on the same team waits at most that long.
//
// Values cross as gob streams, one per worker and direction, so a type's
// description crosses once per session; flat types (numbers, bools, arrays
// and structs of them) are copied byte for byte.
//
// # Faults
//
// A task that returns an error or panics fails alone (a *TaskError with the
// worker's stack for a panic); the other tasks go on. Each worker records the
// task it runs in shared memory, so when a worker process dies (SIGKILL, the
// OOM killer, a crash in cgo) the dispatcher knows exactly which tasks it
// held: the one it was running and the ones that ran but whose results were
// not sent are run again if the function is Idempotent, or fail with
// ErrWorkerDied; tasks it had not started are sent to another worker. The
// session then ends and the next one replaces the dead worker, so the pool
// stays usable with a full team. No task is lost or delivered twice. A task
// that runs longer than its Timeout fails with ErrTaskTimeout and its worker
// is killed and replaced: it may be in a loop that never looks at its
// context. When a call's context ends, the call returns ctx.Err() at once;
// its queued batches are dropped, its running tasks see their context done,
// and a worker still running one after the team's CancelGrace is killed.
//
// # Goroutine teams
//
// On a Goroutine team the pool runs tasks on goroutines, without encoding:
// the baseline for the process pool. A timed-out task there cannot be
// killed: it fails with ErrTaskTimeout, its goroutine is abandoned (it ends
// when the function returns) and another takes its place; MaxTasksPerWorker
// does nothing.
//
// A Pool is safe for concurrent use. Calls from several goroutines share the
// workers, batches in the order they were submitted. While a session runs, the
// pool holds the team: For and Reduce on the same team, and a second Pool,
// wait until the pool has been idle for PoolLinger.
type Pool struct {
	team   *Team
	exec   executor
	cfg    poolConfig
	nw     int
	calls  atomic.Uint64
	mu     sync.Mutex
	closed bool
}

// PoolLinger is how long a pool with nothing to do keeps its session (and
// the team) before it gives the team back.
const PoolLinger = 5 * time.Millisecond

// DefaultQueueSize is the default size in bytes of each worker's task queue
// in a process pool (see QueueSize).
const DefaultQueueSize = 1 << 20

// poolConfig is what PoolOptions set.
type poolConfig struct {
	maxTasks  int
	queueSize int
}

// PoolOption configures NewPool.
type PoolOption struct {
	set func(*poolConfig)
}

// MaxTasksPerWorker makes the pool replace a worker process after it has
// run n tasks (Python's maxtasksperchild): a fresh process, for functions
// that leak memory or other resources. The worker finishes the batch that
// reaches n (batches are cut so none crosses it), is killed once idle and
// replaced; while the replacement starts, the other workers wait. n ≤ 0
// means never (the default). It has no effect on a goroutine team.
func MaxTasksPerWorker(n int) PoolOption {
	return PoolOption{func(c *poolConfig) { c.maxTasks = max(n, 0) }}
}

// QueueSize sets the size in bytes of each worker's task queue; the result
// queue, shared by all workers, is the workers' count times as large. A
// batch is cut to at most a quarter of it, and one task's encoded input or
// result must fit in it (or the task fails wrapping ErrArgsTooLarge): pass
// bulk data in shared arrays. The default is DefaultQueueSize; the memory
// is reserved when the pool starts.
func QueueSize(bytes int) PoolOption {
	return PoolOption{func(c *poolConfig) { c.queueSize = bytes }}
}

// NewPool returns a pool that runs tasks on team's workers. Close it before
// closing the team. A team may have several pools, but only one at a time
// runs (see Pool).
func NewPool(team *Team, opts ...PoolOption) (*Pool, error) {
	if team == nil {
		return nil, fmt.Errorf("engine: NewPool: nil team")
	}
	if inWorker() {
		return nil, fmt.Errorf("engine: NewPool: %w", ErrInWorker)
	}
	cfg := poolConfig{queueSize: DefaultQueueSize}
	for _, o := range opts {
		if o.set != nil {
			o.set(&cfg)
		}
	}
	if cfg.queueSize < 4<<10 || cfg.queueSize > 1<<30 {
		return nil, fmt.Errorf("engine: NewPool: QueueSize %d bytes, want 4 KiB to 1 GiB", cfg.queueSize)
	}
	team.mu.Lock()
	closed := team.closed
	team.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("engine: NewPool: %w", ErrClosed)
	}
	p := &Pool{team: team, cfg: cfg}
	switch b := team.b.(type) {
	case *procTeam:
		pp, err := newProcPool(p, team, b)
		if err != nil {
			return nil, err
		}
		p.exec, p.nw = pp, b.parts-b.first
	case *goTeam:
		p.exec, p.nw = newGoPool(p, b.parts), b.parts
	default:
		return nil, fmt.Errorf("engine: NewPool: unsupported backend %v", team.Backend())
	}
	return p, nil
}

// Workers returns the number of workers that run the pool's tasks: the
// team's worker processes (the coordinator, with Config.Primary, runs none),
// or its goroutines.
func (p *Pool) Workers() int { return p.nw }

// Team returns the pool's team.
func (p *Pool) Team() *Team { return p.team }

// Close stops the pool: calls still running return ErrPoolClosed, the
// session ends (workers still running a task after the team's CancelGrace
// are killed, and replaced at the team's next job), and the pool's queues
// are released. The team stays usable. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	return p.exec.close()
}

// check returns ErrPoolClosed after Close.
func (p *Pool) check() error {
	if p == nil {
		return fmt.Errorf("engine: %w: nil *Pool", ErrPoolClosed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("engine: %w", ErrPoolClosed)
	}
	return nil
}

// CallOption changes one pool call.
type CallOption struct {
	chunk   int
	timeout time.Duration
	set     uint8
}

const (
	setChunk = 1 << iota
	setTimeout
)

// Chunksize sets how many tasks travel to a worker together. Larger batches
// cost less per task; smaller ones balance uneven tasks better and, in a
// stream, deliver the first results sooner. n ≤ 0 means automatic:
//   - Map cuts its n inputs into batches of ceil(n / (4·workers)), as
//     Python's Pool.map does, but at most what fits a quarter of a task
//     queue (QueueSize) and 2^20 tasks;
//   - Imap and ImapUnordered, whose length is unknown, start with batches of
//     one task and then size each batch to take about a millisecond of work
//     at the measured time per task (at most doubling from one batch to the
//     next), within the same bounds.
func Chunksize(n int) CallOption { return CallOption{chunk: max(n, 0), set: setChunk} }

// Timeout bounds the run time of each task of the call: a task still
// running after d fails with ErrTaskTimeout, and its worker process is
// killed and replaced (so a task stuck in a loop that never looks at its
// context cannot hold a worker). The task's context has the deadline too.
// d ≤ 0 means no limit. A task is stopped a little after d (so that one
// that watches its context returns by itself first) and the bound is checked
// about ten times per d (at least every 50 ms): between d and about 1.2·d
// after it started.
func Timeout(d time.Duration) CallOption {
	return CallOption{timeout: max(d, 0), set: setTimeout}
}

type callOpts struct {
	chunk   int
	timeout time.Duration
}

func applyCallOpts(opts []CallOption) callOpts {
	var o callOpts
	for _, x := range opts {
		if x.set&setChunk != 0 {
			o.chunk = x.chunk
		}
		if x.set&setTimeout != 0 {
			o.timeout = x.timeout
		}
	}
	return o
}

// executor runs batches for a Pool: the process dispatcher or the goroutine
// pool.
type executor interface {
	// submit queues batches of c (it returns ErrPoolClosed after close).
	submit(c *call, bs []*batch) error
	// cancel stops c: its queued batches are dropped and, once cancel
	// returns, the executor no longer reads the call's inputs.
	cancel(c *call)
	close() error
	// maxChunk is the largest batch of f the executor takes in one piece.
	maxChunk(f *poolFunc) int
}
