package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// goPool is the Pool of a goroutine team: one goroutine per participant
// takes batches from a shared list and runs them, with no encoding.
type goPool struct {
	p      *Pool
	pid    int
	mu     sync.Mutex
	cond   *sync.Cond
	queue  []*batch
	closed bool
	calls  map[*call]struct{}
	timed  map[*goWorker]struct{} // workers running a batch with a timeout
	watch  bool                   // the watchdog goroutine runs
	wg     sync.WaitGroup         // worker goroutines not abandoned
}

// goWorker is one worker goroutine. Its fields are used only while it runs
// a batch with a timeout, under mu, which it shares with the watchdog.
type goWorker struct {
	id        int
	mu        sync.Mutex
	b         *batch
	j         int
	start     time.Time
	running   bool
	errs      []*TaskError
	abandoned bool
}

func newGoPool(p *Pool, n int) *goPool {
	g := &goPool{p: p, pid: os.Getpid(), calls: map[*call]struct{}{}, timed: map[*goWorker]struct{}{}}
	g.cond = sync.NewCond(&g.mu)
	for i := range n {
		g.start(i)
	}
	return g
}

func (g *goPool) start(id int) {
	g.wg.Add(1)
	go g.work(&goWorker{id: id})
}

func (g *goPool) maxChunk(*poolFunc) int { return maxBatchTasks }

func (g *goPool) submit(c *call, bs []*batch) error {
	if c.userIns && len(bs) > 0 {
		// Map's inputs belong to its caller, who may reuse them as soon as
		// a canceled Map returns, while a task still runs. (All of a Map's
		// batches share one store.)
		st := bs[0].st
		st.ins = c.f.ops.cloneIn(st.ins)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return fmt.Errorf("pool: %w", ErrClosed)
	}
	if c.runCtx == nil {
		c.runCtx, c.runStop = context.WithCancel(c.ctx)
	}
	g.calls[c] = struct{}{}
	g.queue = append(g.queue, bs...)
	if len(bs) == 1 {
		g.cond.Signal()
	} else {
		g.cond.Broadcast()
	}
	return nil
}

func (g *goPool) cancel(c *call) {
	c.canceled.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.runStop != nil {
		c.runStop()
	}
	delete(g.calls, c)
	g.queue = slices.DeleteFunc(g.queue, func(b *batch) bool { return b.c == c })
}

func (g *goPool) close() error {
	g.mu.Lock()
	g.closed = true
	g.queue = nil
	calls := g.calls
	g.calls = map[*call]struct{}{}
	g.cond.Broadcast()
	g.mu.Unlock()
	for c := range calls {
		c.canceled.Store(true)
		c.runStop()
		c.finish(fmt.Errorf("pool: %w", ErrClosed))
	}
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(engine.DefaultCloseTimeout):
		return errors.New("pool: Pool.Close: tasks are still running in their goroutines")
	}
}

func (g *goPool) pop() *batch {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.queue) == 0 && !g.closed {
		g.cond.Wait()
	}
	if g.closed {
		return nil
	}
	b := g.queue[0]
	g.queue[0] = nil
	g.queue = g.queue[1:]
	return b
}

func (g *goPool) work(gw *goWorker) {
	for {
		b := g.pop()
		if b == nil {
			g.wg.Done()
			return
		}
		c := b.c
		if c.canceled.Load() {
			continue
		}
		c.f.ops.runLocal(g, gw, b)
		gw.mu.Lock()
		gone := gw.abandoned
		gw.mu.Unlock()
		if gone {
			return // the watchdog took over this goroutine's batch and place
		}
		if c.isFinished() {
			g.mu.Lock()
			delete(g.calls, c)
			c.runStop()
			g.mu.Unlock()
		}
	}
}

// runLocal runs a batch on a worker goroutine.
func (o *funcImpl[In, Out]) runLocal(g *goPool, gw *goWorker, b *batch) {
	c := b.c
	i, j := b.span()
	ins, outs := b.st.ins.([]In)[i:j:j], b.st.outs.([]Out)[i:j:j]
	var zero Out
	var errs []*TaskError
	start := time.Now()
	if c.timeout > 0 {
		if !g.beginTimed(gw, b) {
			return
		}
	}
	for j := range ins {
		if c.canceled.Load() {
			if c.timeout > 0 {
				g.endTimed(gw)
			}
			return
		}
		if c.timeout <= 0 {
			out, stack, err := callTask(o.fn, c.runCtx, ins[j])
			outs[j] = out
			if err != nil {
				outs[j] = zero
				errs = append(errs, &TaskError{Func: o.f.name, Index: b.lo + j, Worker: gw.id, Failure: engine.Failure{PID: g.pid, Err: err, Stack: stack}})
			}
			continue
		}
		ctx, cancel := context.WithTimeout(c.runCtx, c.timeout)
		gw.mu.Lock()
		gw.j, gw.start, gw.running = j, time.Now(), true
		gw.mu.Unlock()
		out, stack, err := callTask(o.fn, ctx, ins[j])
		cancel()
		gw.mu.Lock()
		if gw.abandoned {
			gw.mu.Unlock()
			return
		}
		gw.running = false
		outs[j] = out
		if err != nil {
			outs[j] = zero
			gw.errs = append(gw.errs, &TaskError{Func: o.f.name, Index: b.lo + j, Worker: gw.id, Failure: engine.Failure{PID: g.pid, Err: timeoutCause(c, err), Stack: stack}})
		}
		gw.mu.Unlock()
	}
	if c.timeout > 0 {
		errs = g.endTimed(gw)
	}
	c.deliver(b, 0, len(ins), errs, float64(time.Since(start))/float64(max(len(ins), 1)))
}

// beginTimed registers a batch with a timeout with the watchdog.
func (g *goPool) beginTimed(gw *goWorker, b *batch) bool {
	gw.mu.Lock()
	gw.b, gw.errs, gw.running = b, nil, false
	gw.mu.Unlock()
	g.mu.Lock()
	g.timed[gw] = struct{}{}
	if !g.watch {
		g.watch = true
		go g.watchdog()
	}
	g.mu.Unlock()
	return true
}

// endTimed unregisters a worker's timed batch and returns its task errors.
func (g *goPool) endTimed(gw *goWorker) []*TaskError {
	g.mu.Lock()
	delete(g.timed, gw)
	g.mu.Unlock()
	gw.mu.Lock()
	errs := gw.errs
	gw.b, gw.errs = nil, nil
	gw.mu.Unlock()
	return errs
}

// watchdog fails tasks that run over their timeout: the goroutine running
// one is abandoned (it cannot be stopped), its batch's finished tasks are
// delivered, the rest goes back to the queue, and a new goroutine takes its
// place.
func (g *goPool) watchdog() {
	for {
		g.mu.Lock()
		if len(g.timed) == 0 || g.closed {
			g.watch = false
			g.mu.Unlock()
			return
		}
		tick := 50 * time.Millisecond
		ws := make([]*goWorker, 0, len(g.timed))
		for gw := range g.timed {
			ws = append(ws, gw)
		}
		g.mu.Unlock()
		now := time.Now()
		for _, gw := range ws {
			gw.mu.Lock()
			b := gw.b
			if b == nil || gw.abandoned {
				gw.mu.Unlock()
				continue
			}
			d := b.c.timeout
			tick = min(tick, max(d/10, time.Millisecond))
			if !gw.running || now.Sub(gw.start) <= overtime(d) {
				gw.mu.Unlock()
				continue
			}
			gw.abandoned = true
			j, errs := gw.j, gw.errs
			gw.b, gw.errs = nil, nil
			gw.mu.Unlock()
			g.takeOver(gw, b, j, errs)
		}
		time.Sleep(tick)
	}
}

// takeOver finishes the batch of an abandoned worker goroutine.
func (g *goPool) takeOver(gw *goWorker, b *batch, j int, errs []*TaskError) {
	c := b.c
	g.mu.Lock()
	delete(g.timed, gw)
	closed := g.closed
	if !closed && j+1 < b.n() && !c.canceled.Load() {
		g.queue = append([]*batch{b.sub(j+1, b.n())}, g.queue...)
		g.cond.Signal()
	}
	g.mu.Unlock()
	errs = append(errs, &TaskError{
		Func:    c.f.name,
		Index:   b.lo + j,
		Worker:  gw.id,
		Failure: engine.Failure{PID: g.pid, Err: fmt.Errorf("%w: it ran longer than %v; its goroutine was abandoned (goroutines cannot be killed)", ErrTaskTimeout, c.timeout)},
	})
	c.deliver(b, 0, j+1, errs, 0)
	if !closed {
		g.start(gw.id)
	}
	g.wg.Done() // for the abandoned goroutine
}
