package pool

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/supervise"
)

// Pool runs tasks — calls of functions registered with Register, one
// input each — on a team's workers, like Python's multiprocessing.Pool:
// Func.Map (ordered results), Func.Imap and Func.ImapUnordered (streams,
// bounded memory), Func.Apply, and Func.Submit (a Future). New makes a pool
// with a team of its own; On shares an existing team.
//
// A Pool is safe for concurrent use. Calls from several goroutines share the
// workers, batches in the order they were submitted. While a session runs, the
// pool holds the team: For and Reduce on the same team, and a second Pool,
// wait until the pool has been idle for Linger.
type Pool struct {
	team   *engine.Team
	owned  bool // New started the team: Close closes it
	exec   executor
	cfg    config
	nw     int
	calls  atomic.Uint64
	mu     sync.Mutex
	closed bool
}

// Linger is how long a pool with nothing to do keeps its session (and the
// team) before it gives the team back.
const Linger = 5 * time.Millisecond

// DefaultQueueSize is the default size in bytes of each worker's task queue
// in a process pool (see QueueSize).
const DefaultQueueSize = 1 << 20

// Option configures New and On.
type Option func(*config)

type config struct {
	team      []engine.TeamOption // New's team (TeamOptions)
	workers   int                 // New's team (Workers)
	maxTasks  int
	queueSize int
	stall     time.Duration

	init     *initFunc // Initializer
	initArgs any
	initSet  bool
}

// Workers sets the number of worker processes of the team New starts (as
// engine.Workers: 0, the default, means one per usable CPU). A Workers
// other than 0, before or after TeamOptions, wins over an engine.Workers
// among them. On ignores it.
func Workers(n int) Option { return func(c *config) { c.workers = n } }

// TeamOptions adds opts to the options of the team New starts (given more
// than once, the options of each are added in order, and a later one wins
// over an earlier one as in engine.Start). On ignores it.
func TeamOptions(opts ...engine.TeamOption) Option {
	opts = append([]engine.TeamOption(nil), opts...)
	return func(c *config) { c.team = append(c.team, opts...) }
}

// MaxTasksPerWorker makes the pool replace a worker process after it has
// run n tasks (Python's maxtasksperchild): a fresh process, for functions
// that leak memory or other resources. The worker finishes the batch that
// reaches n (batches are cut so none crosses it), is killed once idle and
// replaced; while the replacement starts, the other workers wait. n ≤ 0
// means never (the default). It has no effect on a goroutine team.
func MaxTasksPerWorker(n int) Option { return func(c *config) { c.maxTasks = max(n, 0) } }

// QueueSize sets the size in bytes of each worker's task queue; the result
// queue, shared by all workers, is the workers' count times as large. A
// batch is cut to at most a quarter of it, and one task's encoded input or
// result must fit in it (or the task fails wrapping engine.ErrArgsTooLarge):
// pass bulk data in shared arrays. The default is DefaultQueueSize; the
// memory is reserved when the pool starts.
func QueueSize(bytes int) Option { return func(c *config) { c.queueSize = bytes } }

// New starts a team and a pool on it, like Python's Pool(n): the team has
// the Workers (or TeamOptions) given, one worker process per usable CPU by
// default, and Close closes both.
func New(opts ...Option) (*Pool, error) {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	topts := cfg.team
	if cfg.workers != 0 {
		topts = append(topts[:len(topts):len(topts)], engine.Workers(cfg.workers))
	}
	team, err := engine.Start(topts...)
	if err != nil {
		return nil, err // engine.Start says what went wrong
	}
	p, err := On(team, opts...)
	if err != nil {
		team.Close()
		return nil, err
	}
	p.owned = true
	return p, nil
}

// On returns a pool that runs tasks on team's workers, sharing the team with
// its other users. Close the pool before closing the team. A team may have
// several pools, but only one at a time runs (see Pool).
func On(team *engine.Team, opts ...Option) (*Pool, error) {
	if team == nil {
		return nil, fmt.Errorf("pool: On: nil team")
	}
	if reexec.Current() == reexec.Worker {
		return nil, fmt.Errorf("pool: On: %w", engine.ErrInWorker)
	}
	cfg := config{queueSize: DefaultQueueSize}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.queueSize < 4<<10 || cfg.queueSize > 1<<30 {
		return nil, fmt.Errorf("pool: On: QueueSize %d bytes, want 4 KiB to 1 GiB", cfg.queueSize)
	}
	st, ok := supervise.Of(team)
	if !ok {
		return nil, fmt.Errorf("pool: On: team without supervision hooks")
	}
	if st.Closed() {
		return nil, fmt.Errorf("pool: On: %w", engine.ErrClosed)
	}
	spec, err := prepareInit(&cfg)
	if err != nil {
		return nil, err
	}
	p := &Pool{team: team, cfg: cfg}
	if st.Process() {
		pp, err := newProcPool(p, team, st, spec)
		if err != nil {
			return nil, err
		}
		p.exec, p.nw = pp, team.Workers()-st.First()
		if err := pp.startInit(); err != nil {
			pp.close()
			return nil, err
		}
	} else {
		if spec != nil {
			if r := runInit(context.Background(), spec); r.err != nil {
				return nil, fmt.Errorf("pool: %w", &InitError{Init: spec.Name, Worker: -1, Failure: engine.Failure{PID: os.Getpid(), Err: r.err, Stack: r.stack}})
			}
		}
		p.exec, p.nw = newGoPool(p, team.Workers()), team.Workers()
	}
	return p, nil
}

// Workers returns the number of workers that run the pool's tasks: the
// team's worker processes (the coordinator, with engine.Primary,
// runs none), or its goroutines.
func (p *Pool) Workers() int { return p.nw }

// Team returns the pool's team.
func (p *Pool) Team() *engine.Team { return p.team }

// Close stops the pool: calls still running return ErrClosed, the session
// ends (workers still running a task after the team's CancelGrace are
// killed, and replaced at the team's next job), and the pool's queues are
// released. A team started by New is closed too; one given to On stays
// usable. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.exec.close()
	if p.owned {
		if terr := p.team.Close(); err == nil {
			err = terr
		}
	}
	return err
}

// check returns ErrClosed after Close.
func (p *Pool) check() error {
	if p == nil {
		return fmt.Errorf("pool: %w: nil *Pool", ErrClosed)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("pool: %w", ErrClosed)
	}
	if q, ok := p.exec.(*procPool); ok {
		if e := q.broken.Load(); e != nil {
			return fmt.Errorf("pool: %w", e)
		}
	}
	return nil
}

// CallOption changes one call of a pool function.
type CallOption func(*callConfig)

type callConfig struct {
	chunk    int
	timeout  time.Duration
	progress engine.Progress
}

// ChunkSize sets how many tasks travel to a worker together. Larger batches
// cost less per task; smaller ones balance uneven tasks better and, in a
// stream, deliver the first results sooner. n ≤ 0 means automatic:
//   - Map cuts its n inputs into batches of ceil(n / (4·workers)), as
//     Python's Pool.map does, but at most what fits a quarter of a task
//     queue (QueueSize) and 2^20 tasks;
//   - Imap and ImapUnordered, whose length is unknown, start with batches of
//     one task and then size each batch to take about a millisecond of work
//     at the measured time per task (at most doubling from one batch to the
//     next), within the same bounds.
func ChunkSize(n int) CallOption { return func(c *callConfig) { c.chunk = max(n, 0) } }

// Timeout bounds the run time of each task of the call: a task still
// running after d fails with ErrTaskTimeout, and its worker process is
// killed and replaced (so a task stuck in a loop that never looks at its
// context cannot hold a worker). The task's context has the deadline too.
// d ≤ 0 means no limit. A task is stopped a little after d (so that one
// that watches its context returns by itself first) and the bound is checked
// about ten times per d (at least every 50 ms): between d and about 1.2·d
// after it started. The bound covers a task's whole life on a worker: a
// worker process holding tasks of the call that neither starts one nor
// sends a result for that long (stopped, swapped out) is killed too; then
// no task is blamed, and the tasks it held run on the others. So does a
// worker process that holds no task but keeps the call's waiting tasks from
// starting for longer than d: one that has not joined the pool's session
// since it started, or that has not left a session that is ending (tasks
// wait for the next one). A call with a Timeout runs in a session, never
// as a direct call.
func Timeout(d time.Duration) CallOption { return func(c *callConfig) { c.timeout = max(d, 0) } }

func applyCallOpts(opts []CallOption) callConfig {
	var c callConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// executor runs batches for a Pool: the process dispatcher or the goroutine
// pool.
type executor interface {
	// submit queues batches of c (it returns ErrClosed after close).
	submit(c *call, bs []*batch) error
	// cancel stops c: its queued batches are dropped and, once cancel
	// returns, the executor no longer reads the call's inputs.
	cancel(c *call)
	close() error
	// maxChunk is the largest batch of f the executor takes in one piece.
	maxChunk(f *poolFunc) int
}
