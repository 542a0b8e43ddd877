package engine

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// goTeam is the goroutine backend: per job, Workers-1 goroutines plus the
// calling goroutine claim chunks from a counter on the Go heap.
type goTeam struct {
	parts int
	grace time.Duration
	pid   int
	busy  chan struct{} // closed when the goroutines of the last job have all returned
}

func newGoTeam(cfg teamConfig) *goTeam {
	done := make(chan struct{})
	close(done)
	return &goTeam{parts: cfg.Workers, grace: cfg.CancelGrace, pid: os.Getpid(), busy: done}
}

func (g *goTeam) maxPartials() int { return 1 << 30 }

func (g *goTeam) close() error {
	select {
	case <-g.busy:
	case <-time.After(DefaultCloseTimeout):
		return errors.New("close team: goroutines of a canceled job are still running")
	}
	return nil
}

// goJob is the shared state of one goroutine-backend job.
type goJob struct {
	claim  atomic.Uint64
	done   atomic.Uint64
	stop   atomic.Uint32
	blocks []atomic.Uint32
	mu     sync.Mutex
	err    *WorkerError
}

func (g *goTeam) run(ctx context.Context, j *job) error {
	// Chunks of a canceled job may still be running (a kernel that does not
	// poll Err): wait for them before this job touches the same data.
	select {
	case <-g.busy:
	case <-ctx.Done():
		return ctx.Err()
	}
	st := &goJob{}
	st.claim.Store(packClaim(1, 0))
	if j.p.sched == schedStatic {
		st.blocks = make([]atomic.Uint32, j.p.parts)
	}
	r := &runner{
		gen: 1, p: j.p, claimW: &st.claim, done: &st.done, stop: &st.stop,
		block:    func(q int) *atomic.Uint32 { return &st.blocks[q] },
		resolved: true, k: j.k, args: j.args, partials: j.partials,
	}
	r.fail = func(w, lo, hi int, err error, stack string) {
		st.mu.Lock()
		if st.err == nil {
			st.err = &WorkerError{Kernel: j.k.name, Worker: w, Lo: lo, Hi: hi, Failure: Failure{PID: g.pid, Err: err, Stack: stack}}
		}
		st.mu.Unlock()
		st.stop.CompareAndSwap(stopNone, stopFailed)
	}
	if j.prog != nil {
		j.prog.StepStarted(func() int { return int(st.done.Load()) })
		defer func() { j.prog.StepOver(int(st.done.Load())) }()
	}
	if j.p.sched == schedGuided {
		r.guided = guidedStarts(j.p.hi-j.p.lo, j.p.parts, j.p.size)
	}
	if ctx.Done() != nil {
		defer context.AfterFunc(ctx, func() { st.stop.CompareAndSwap(stopNone, ctxStop(ctx)) })()
	}
	n := g.parts
	if j.p.sched == schedStatic {
		n = min(n, j.p.k) // participants past k have no block
	}
	var wg sync.WaitGroup
	for w := 1; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.participate(&Ctx{worker: w, stop: &st.stop, ctx: ctx}, nil)
		}()
	}
	r.participate(&Ctx{worker: 0, stop: &st.stop, ctx: ctx}, nil)
	if ctx.Done() == nil {
		wg.Wait()
	} else {
		busy := make(chan struct{})
		go func() { wg.Wait(); close(busy) }()
		g.busy = busy
		select {
		case <-busy:
		case <-ctx.Done():
			select {
			case <-busy:
			case <-time.After(g.grace):
			}
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if code := st.stop.Load(); code != stopFailed {
		return stopErr(code)
	}
	return st.err
}

// ctxStop returns the stop code for an ended context.
func ctxStop(ctx context.Context) uint32 {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return stopDeadline
	}
	return stopCanceled
}
