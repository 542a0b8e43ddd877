package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shmpar/shmpar/engine/internal/progress"
	"github.com/shmpar/shmpar/engine/internal/reexec"
)

// Backend selects what the participants of a team are. A Backend is itself
// a TeamOption: Start(Goroutine) starts a goroutine team. Without one, Start
// starts a process team.
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

func (b Backend) applyTeam(c *teamConfig) { c.Backend = b }

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
	cfg    teamConfig
	b      backend
	closed bool

	// The job in flight, kept here (under mu) so that a job costs no
	// allocation.
	plan plan
	job  job
}

// Start starts a team configured by opts (later options win over earlier
// ones; nil options are ignored). With none it is a process team with one
// worker per usable CPU. For the Process backend it starts the worker
// processes (re-executing this program, which must call Main first) and
// waits until each has reported ready. An option value out of range (a
// negative Workers, a MaxArgs over 1 GiB, an unknown Backend, a ShareNode
// without a team or a CPU) is an error wrapping ErrBadOption, and nothing
// is started.
func Start(opts ...TeamOption) (*Team, error) {
	reexec.Guard("Start")
	var cfg teamConfig
	for _, o := range opts {
		if o != nil {
			o.applyTeam(&cfg)
		}
	}
	if cfg.Backend != Process && cfg.Backend != Goroutine {
		return nil, fmt.Errorf("engine: Start: %w: Backend(%d), want Process or Goroutine", ErrBadOption, cfg.Backend)
	}
	if cfg.Workers < 0 || cfg.Workers > MaxWorkers {
		return nil, fmt.Errorf("engine: Start: %w: Workers(%d), want 0 (one per usable CPU) to %d", ErrBadOption, cfg.Workers, MaxWorkers)
	}
	if cfg.MaxArgs > 1<<30 {
		return nil, fmt.Errorf("engine: Start: %w: MaxArgs(%d), want at most 1 GiB", ErrBadOption, cfg.MaxArgs)
	}
	if cfg.share.set && (cfg.share.teams < 1 || cfg.share.cpus < 1) {
		return nil, fmt.Errorf("engine: Start: %w: ShareNode(%d, %d), want at least 1 team and 1 CPU", ErrBadOption, cfg.share.teams, cfg.share.cpus)
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

// Spin returns how long the team's idle workers poll before they sleep
// (see the Spin option), defaults and ShareNode applied; negative means
// never: they sleep at once.
func (t *Team) Spin() time.Duration { return t.cfg.Spin }

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
