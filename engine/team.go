package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/shmpar/shmpar/engine/internal/progress"
	"github.com/shmpar/shmpar/engine/internal/reexec"
)

// Backend selects what the participants of a team are.
type Backend uint8

const (
	// Process runs each worker in its own process (the default): a kernel
	// that crashes takes down one worker, not the program, and the worker
	// is restarted.
	Process Backend = iota
	// Goroutine runs the participants as goroutines of the calling process,
	// with the same API and no argument encoding: the baseline for
	// benchmarks, and a fallback where processes are not wanted.
	Goroutine
)

// String returns "process" or "goroutine".
func (b Backend) String() string {
	switch b {
	case Process:
		return "process"
	case Goroutine:
		return "goroutine"
	}
	return fmt.Sprintf("backend(%d)", uint8(b))
}

// Defaults for the zero fields of Config.
const (
	DefaultSpin         = 200 * time.Microsecond
	DefaultHelloTimeout = 20 * time.Second
	DefaultMaxArgs      = 64 << 10
	DefaultCancelGrace  = time.Second
	DefaultCloseTimeout = 2 * time.Second
	DefaultStallLimit   = time.Minute

	// MaxWorkers is the largest team Start accepts.
	MaxWorkers = 1024
)

// Config describes a team. The zero value is a process team with one
// worker per usable CPU.
type Config struct {
	// Workers is the number of participants that run chunks; 0 means
	// UsableCPUs(). With Primary the coordinator is one of them.
	Workers int

	// Backend is Process (default) or Goroutine.
	Backend Backend

	// Pin binds worker process i to the i-th CPU the process may use
	// (modulo their number). The coordinator is not pinned.
	Pin bool

	// Primary makes the coordinator (the goroutine calling For) run chunks
	// itself as participant 0, like OpenMP's primary thread, so Workers-1
	// worker processes are started. It saves a core's worth of waiting
	// and most of the dispatch latency, at the cost of running kernels in
	// the coordinator's process: a kernel that crashes the process there
	// takes the program down, and a chunk running there cannot be killed
	// after CancelGrace (it ends when the kernel returns).
	Primary bool

	// Spin is how long an idle worker (and the coordinator waiting for a
	// job to end) polls shared memory before it sleeps on a futex. Waking a
	// sleeping core costs tens of microseconds; spinning costs a core while
	// it lasts. 0 means DefaultSpin; negative means never spin.
	Spin time.Duration

	// HelloTimeout bounds how long Start (or a restart) waits for a worker
	// process to report ready. 0 means DefaultHelloTimeout.
	HelloTimeout time.Duration

	// CancelGrace is how long For waits, after its context ended, for
	// running chunks to return; worker processes still running a chunk
	// after that are killed (and restarted before the next job). 0 means
	// DefaultCancelGrace.
	CancelGrace time.Duration

	// StallLimit is how long a worker process may go without progress
	// while a job waits for it before it is killed (SIGKILL) and handled as
	// a worker that died: its chunk is run again if the kernel is
	// Idempotent and named in the job's error (ErrStalled) otherwise, and
	// the job goes on. A job waits for a worker that holds one of its
	// chunks, or that has not joined it while chunks nobody claimed
	// remain. Progress is any of: the worker claims or finishes a chunk,
	// the kernel calls Ctx.Progress, the worker's process uses CPU time (at
	// least 1 % of the time between two looks: the Go runtime's own
	// housekeeping in an idle process uses far less; the watcher of a
	// Ctx.Context polls every millisecond and uses more, so a kernel that
	// made one is stalled only when its process does not run at all). So a
	// kernel that computes for an hour in one chunk is never stalled;
	// one that sleeps or waits for I/O for longer than the limit without
	// calling Ctx.Progress is. A worker stopped by a signal (SIGSTOP, a
	// terminal's ^Z) or stuck in a system call makes no progress; one
	// stopped by a debugger (ptrace) always counts as making some. The
	// stall is noticed at least StallLimit and at most StallLimit +
	// StallLimit/8 + 50 ms after the last progress (CPU time is read every
	// eighth of the limit, the workers looked at every 50 ms while the
	// coordinator waits). A kernel registered with the
	// StallLimit option uses its own limit. Only worker processes are
	// watched, not the coordinator (Primary) nor goroutines, and only on
	// Linux (the CPU time comes from the process's CPU clock, its state
	// from /proc).
	//
	// 0 means DefaultStallLimit, a minute: long enough that no live
	// worker of a compute kernel comes near it (a process that runs uses
	// CPU time; a machine has to be frozen for a minute to starve one),
	// short enough that a stopped worker does not hang a job for ever when
	// its context has no deadline. Negative means never: a job then waits
	// for a stopped worker as long as its context allows.
	StallLimit time.Duration

	// GOMAXPROCS is the GOMAXPROCS of each worker process; 0 means 1 (a
	// worker runs one chunk at a time).
	GOMAXPROCS int

	// MaxArgs bounds the size of a job's encoded arguments in bytes; 0
	// means DefaultMaxArgs.
	MaxArgs int

	// Env is added to each worker process's environment (after the
	// coordinator's own).
	Env []string

	// Stdout and Stderr receive the worker processes' output; nil means
	// os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = UsableCPUs()
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.CancelGrace <= 0 {
		c.CancelGrace = DefaultCancelGrace
	}
	if c.StallLimit == 0 {
		c.StallLimit = DefaultStallLimit
	}
	if c.GOMAXPROCS <= 0 {
		c.GOMAXPROCS = 1
	}
	if c.MaxArgs <= 0 {
		c.MaxArgs = DefaultMaxArgs
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
}

// job is one dispatch: a kernel, its arguments and a plan.
type job struct {
	k        *kernel
	args     any
	p        plan
	partials []uint64      // reduce: one per chunk of p
	prog     *progress.Run // ReportProgress, or nil
}

// backend runs jobs for a Team; the Team serializes calls.
type backend interface {
	run(ctx context.Context, j *job) error
	maxPartials() int
	close() error
}

// Team is a set of participants that run kernels over index ranges. It is
// safe for concurrent use; jobs run one at a time, in the order their For
// calls take the team's lock. A kernel must not run a job on its own team.
type Team struct {
	mu     sync.Mutex
	cfg    Config
	b      backend
	closed bool

	// The job in flight, kept here (under mu) so that a job costs no
	// allocation.
	plan plan
	job  job
}

// Start starts a team. For the Process backend it starts the worker
// processes (re-executing this program, which must call Main first) and
// waits until each has reported ready.
func Start(cfg Config) (*Team, error) {
	reexec.Guard("Start")
	if cfg.Backend != Process && cfg.Backend != Goroutine {
		return nil, fmt.Errorf("start team: unknown backend %d", cfg.Backend)
	}
	if cfg.Workers < 0 || cfg.Workers > MaxWorkers {
		return nil, fmt.Errorf("engine: Start: Workers = %d, want 0 (one per usable CPU) to %d", cfg.Workers, MaxWorkers)
	}
	if cfg.MaxArgs > 1<<30 {
		return nil, fmt.Errorf("engine: Start: MaxArgs = %d, want at most 1 GiB", cfg.MaxArgs)
	}
	cfg.setDefaults()
	t := &Team{cfg: cfg}
	var err error
	switch cfg.Backend {
	case Goroutine:
		t.b = newGoTeam(cfg)
	case Process:
		if inWorker() {
			return nil, fmt.Errorf("engine: Start: %w", ErrInWorker)
		}
		t.b, err = startProcTeam(cfg)
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Workers returns the number of participants: worker processes (or
// goroutines), plus the coordinator with Primary.
func (t *Team) Workers() int { return t.cfg.Workers }

// PIDs returns the process ids of the worker processes, in participant
// order (with Primary, the coordinator's own pid comes first); nil for the
// goroutine backend. A worker process that has exited shows as 0 until it
// is replaced, at the start of the next job, so the list may change.
func (t *Team) PIDs() []int {
	if p, ok := t.b.(*procTeam); ok {
		return p.pids()
	}
	return nil
}

// Backend returns the team's backend.
func (t *Team) Backend() Backend { return t.cfg.Backend }

// Close stops the team: worker processes are asked to exit, then killed if
// they have not within a bound, and every segment the team made is
// released. It waits for a running job to end. Close is idempotent.
func (t *Team) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return t.b.close()
}

// do runs job k (a For, or a reduction) and returns the partials in chunk
// order, with the global index of the first chunk.
func (t *Team) do(ctx context.Context, k *kernel, n int, args any, opts []Option) (int, []uint64, error) {
	if t == nil {
		return 0, nil, fmt.Errorf("engine: kernel %q: nil *Team", k.name)
	}
	if k.encErr != nil {
		return 0, nil, fmt.Errorf("engine: kernel %q: %w", k.name, k.encErr)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := &t.plan
	if err := p.init(n, t.cfg.Workers, opts); err != nil {
		return 0, nil, err
	}
	if t.closed {
		return 0, nil, fmt.Errorf("engine: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if p.k == 0 {
		return p.first, nil, nil
	}
	maxp := t.b.maxPartials()
	if k.reduce && p.k > maxp {
		switch p.sched {
		case schedDynamic, schedGuided:
			// Fewer, larger chunks: the result of a non-deterministic
			// schedule may depend on its chunks anyway.
			p.sched, p.size = schedDynamic, ceilDiv(p.hi-p.lo, maxp)
			p.k = ceilDiv(p.hi-p.lo, p.size)
		}
	}
	var prog *progress.Run // no defer: a For without ReportProgress pays nothing for it
	if p.progress != nil {
		prog = progress.Start(p.progress, p.k, time.Duration(progressEvery.Load()))
	}
	j := &t.job
	if !k.reduce {
		*j = job{k: k, args: args, p: *p, prog: prog}
		err := t.b.run(ctx, j)
		*j = job{}
		prog.End()
		return 0, nil, err
	}
	// A deterministic reduction with more chunks than the partial area
	// holds runs in rounds of consecutive chunks.
	all := make([]uint64, p.k)
	for done := 0; done < p.k; {
		sp := *p
		sp.first = p.first + done
		sp.k = min(maxp, p.k-done)
		*j = job{k: k, args: args, p: sp, partials: all[done : done+sp.k], prog: prog}
		err := t.b.run(ctx, j)
		*j = job{}
		if err != nil {
			prog.End()
			return 0, nil, err
		}
		done += sp.k
	}
	prog.End()
	return p.first, all, nil
}
