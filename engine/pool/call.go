package pool

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/progress"
)

// store holds the inputs and outputs of a run of tasks: a whole Map, or one
// batch of a stream.
type store struct {
	ins  any // []In
	outs any // []Out
	lo   int // call index of element 0
}

// batch is a run of consecutive tasks of one call that travel to a worker
// together. Splitting a batch (to fit a queue, after a worker died) makes
// sub-batches over the same store; the call counts completion on the
// original (origin).
type batch struct {
	c      *call
	origin *batch
	st     *store
	lo, hi int // task indices in the call
	tries  int // worker deaths the tasks went through

	// The process dispatcher's, while the batch is in flight.
	seq uint64 // sequence number on its worker
	got int    // results received

	// origin only, guarded by c.mu
	ndone int
	errs  []*TaskError
	ready bool
}

func (b *batch) n() int { return b.hi - b.lo }

// span returns b's tasks as indices into its store.
func (b *batch) span() (int, int) { return b.lo - b.st.lo, b.hi - b.st.lo }

// sub returns the tasks [i, j) of b (relative to b).
func (b *batch) sub(i, j int) *batch {
	return &batch{c: b.c, origin: b.origin, st: b.st, lo: b.lo + i, hi: b.lo + j, tries: b.tries}
}

// call is one Map, Imap, ImapUnordered, Apply or Submit.
type call struct {
	id      uint64
	p       *Pool
	f       *poolFunc
	ctx     context.Context
	timeout time.Duration

	mu       sync.Mutex
	left     int  // tasks submitted and not done
	sealed   bool // every batch has been submitted
	finished bool
	err      error        // the call failed as a whole
	errs     []*TaskError // Map: every task error
	stream   bool         // Imap, ImapUnordered: errors stay with their batch
	anyOrder bool         // ImapUnordered: completed batches go to ready
	ready    []*batch     // ImapUnordered: completed batches, in completion order
	perTask  float64      // EWMA of the run time per task, ns
	done     chan struct{}
	notify   chan struct{} // stream: a batch completed
	onFinish func()

	canceled atomic.Bool
	userIns  bool          // the inputs are the caller's slice (Map)
	prog     *progress.Run // Map with Progress

	// The goroutine pool's context for the call's tasks: ctx, also ended
	// when the call is canceled or the pool closes.
	runCtx  context.Context
	runStop context.CancelFunc

	// The process dispatcher's own fields (only its goroutine uses them).
	dead     bool      // canceled or failed: drop its batches and results
	cancelAt time.Time // when it was canceled
	bpt      int       // encoded bytes per task seen so far
	batchNs  float64   // EWMA of the run time per batch, ns
}

func (p *Pool) newCall(ctx context.Context, f *poolFunc, o callConfig) *call {
	return &call{
		id: p.calls.Add(1), p: p, f: f, ctx: ctx, timeout: o.timeout,
		done: make(chan struct{}), notify: make(chan struct{}, 1),
	}
}

// deliver records that tasks [i, j) of b (relative to b) are done, their
// results written and their errors in errs. perTask is the run time per task
// the worker measured (0 if unknown), in ns.
func (c *call) deliver(b *batch, i, j int, errs []*TaskError, perTask float64) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	o := b.origin
	n := j - i
	o.ndone += n
	if c.stream {
		o.errs = append(o.errs, errs...)
	} else {
		c.errs = append(c.errs, errs...)
	}
	if perTask > 0 {
		if c.perTask == 0 {
			c.perTask = perTask
		} else {
			c.perTask = 0.7*c.perTask + 0.3*perTask
		}
	}
	c.left -= n
	c.prog.Add(n)
	if o.ndone >= o.n() && !o.ready {
		o.ready = true
		if c.anyOrder {
			c.ready = append(c.ready, o)
		}
	}
	fin := c.left <= 0 && c.sealed
	if fin {
		c.finished = true
		close(c.done)
	}
	cb := c.onFinish
	c.mu.Unlock()
	if c.stream {
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	if fin && cb != nil {
		cb()
	}
}

// finish ends the call with err (nil: success) unless it already ended.
func (c *call) finish(err error) {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished, c.err = true, err
	close(c.done)
	cb := c.onFinish
	c.mu.Unlock()
	if cb != nil {
		cb()
	}
}

func (c *call) isFinished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished
}

// wait waits until the call finishes or ctx ends; then the call is canceled
// and ctx.Err() returned.
func (c *call) wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	c.p.exec.cancel(c)
	c.finish(ctx.Err())
	return ctx.Err()
}

// taskErrors returns the call's task errors in input order.
func (c *call) taskErrors() TaskErrors {
	slices.SortFunc(c.errs, func(a, b *TaskError) int { return a.Index - b.Index })
	return TaskErrors(c.errs)
}

// encodeError is the error for an input that cannot be encoded.
func encodeError(f *poolFunc, i int, v any, err error) error {
	return fmt.Errorf("pool: func %q: input %d (%T): %w: %v; inputs cross to worker processes with encoding/gob", f.name, i, v, engine.ErrArgsEncode, err)
}

// autoChunk is Map's automatic chunk size: Python's ceil(n / (4·workers)),
// bounded by what the executor takes in one piece.
func (p *Pool) autoChunk(f *poolFunc, n int) int {
	return min(max(1, ceilDiv(n, 4*max(p.nw, 1))), p.exec.maxChunk(f))
}

// Map runs the function on every input on pool p and returns the results in
// input order, like Python's Pool.map. Inputs are cut into batches
// (ChunkSize) that run on the pool's workers in parallel.
//
// A task that fails does not stop the others: Map returns every result,
// the failed tasks' as zero values, together with a TaskErrors listing the
// failures in input order. Any other error — a type that can never be
// encoded, an input that cannot be (found before anything runs, and named
// with its index and type), ctx ending (then Map returns at once), the pool
// closing — comes with nil results.
func (h *Func[In, Out]) Map(ctx context.Context, p *Pool, inputs []In, opts ...CallOption) ([]Out, error) {
	f, o, err := checkMap(ctx, p, h, inputs, opts)
	if err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return []Out{}, nil
	}
	pr := progress.Start(o.progress, len(inputs), ProgressInterval)
	defer pr.End()
	if q := p.directFor(f, o); q != nil {
		return directMap[In, Out](ctx, q, f, inputs, o, pr)
	}
	c, outs, err := startMap[In, Out](ctx, p, f, inputs, o, pr)
	if err != nil {
		return nil, err
	}
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	if len(c.errs) > 0 {
		return outs, c.taskErrors()
	}
	return outs, nil
}

// checkMap checks a Map before anything runs and returns its function and
// options.
func checkMap[In, Out any](ctx context.Context, p *Pool, h *Func[In, Out], inputs []In, opts []CallOption) (*poolFunc, callConfig, error) {
	f, err := h.check()
	if err != nil {
		return nil, callConfig{}, err
	}
	if err := p.check(); err != nil {
		return nil, callConfig{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, callConfig{}, err
	}
	if i, err := f.ops.checkIn(inputs); err != nil {
		return nil, callConfig{}, encodeError(f, i, inputs[i], err)
	}
	return f, applyCallOpts(opts), nil
}

// startMap submits a checked Map of at least one input.
func startMap[In, Out any](ctx context.Context, p *Pool, f *poolFunc, inputs []In, o callConfig, pr *progress.Run) (*call, []Out, error) {
	n := len(inputs)
	outs := make([]Out, n)
	c := p.newCall(ctx, f, o)
	c.prog = pr
	chunk := o.chunk
	if chunk <= 0 {
		chunk = p.autoChunk(f, n)
	}
	chunk = min(chunk, maxBatchTasks)
	st := &store{ins: inputs, outs: outs}
	slab := make([]batch, ceilDiv(n, chunk))
	bs := make([]*batch, len(slab))
	for k := range slab {
		b := &slab[k]
		*b = batch{c: c, st: st, lo: k * chunk, hi: min((k+1)*chunk, n)}
		b.origin = b
		bs[k] = b
	}
	c.left, c.sealed, c.userIns = n, true, true
	if err := p.exec.submit(c, bs); err != nil {
		return nil, nil, err
	}
	return c, outs, nil
}

// Apply runs the function on one input on pool p and returns its result,
// like Python's Pool.apply. A failure of the task is returned as a
// *TaskError.
func (h *Func[In, Out]) Apply(ctx context.Context, p *Pool, in In, opts ...CallOption) (Out, error) {
	outs, err := h.Map(ctx, p, []In{in}, opts...)
	var zero Out
	var te TaskErrors
	if errors.As(err, &te) && len(te) == 1 {
		return zero, te[0]
	}
	if err != nil {
		return zero, err
	}
	return outs[0], nil
}

// Submit starts the function on one input on pool p and returns a Future
// for its result at once, like Python's Pool.apply_async and
// concurrent.futures' submit. ctx bounds the task: when it ends the task is
// canceled and the Future fails with ctx.Err(). Errors that Apply would
// return before running anything are the Future's result at once.
func (h *Func[In, Out]) Submit(ctx context.Context, p *Pool, in In, opts ...CallOption) *Future[Out] {
	fut := &Future[Out]{done: make(chan struct{})}
	if err := startAsync(ctx, p, h, []In{in}, opts, fut); err != nil {
		var zero Out
		fut.set(zero, err)
	}
	return fut
}

// startAsync starts a call for Submit: the call completes the Future, and
// ctx ending cancels it.
func startAsync[In, Out any](ctx context.Context, p *Pool, h *Func[In, Out], inputs []In, opts []CallOption, fut *Future[Out]) error {
	f, err := h.check()
	if err != nil {
		return err
	}
	if err := p.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if i, err := f.ops.checkIn(inputs); err != nil {
		return encodeError(f, i, inputs[i], err)
	}
	o := applyCallOpts(opts)
	outs := make([]Out, 1)
	c := p.newCall(ctx, f, o)
	b := &batch{c: c, st: &store{ins: inputs, outs: outs}, lo: 0, hi: 1}
	b.origin = b
	c.left, c.sealed = 1, true
	var stop func() bool
	var stopMu sync.Mutex
	c.onFinish = func() {
		stopMu.Lock()
		if stop != nil {
			stop()
		}
		stopMu.Unlock()
		var zero Out
		switch {
		case c.err != nil:
			fut.set(zero, c.err)
		case len(c.errs) > 0:
			fut.set(zero, c.errs[0])
		default:
			fut.set(outs[0], nil)
		}
	}
	if err := p.exec.submit(c, []*batch{b}); err != nil {
		return err
	}
	if ctx.Done() != nil {
		stopMu.Lock()
		stop = context.AfterFunc(ctx, func() {
			p.exec.cancel(c)
			c.finish(ctx.Err())
		})
		stopMu.Unlock()
		if c.isFinished() {
			stopMu.Lock()
			stop()
			stopMu.Unlock()
		}
	}
	return nil
}

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0 without overflow.
func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}
