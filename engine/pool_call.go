package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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

// call is one Map, Imap, ImapUnordered, Apply or ApplyAsync.
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
	userIns  bool // the inputs are the caller's slice (Map)

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

func (p *Pool) newCall(ctx context.Context, f *poolFunc, o callOpts) *call {
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
	return fmt.Errorf("engine: func %q: %w: input %d (%T): %v; inputs cross to worker processes with encoding/gob", f.name, ErrArgsEncode, i, v, err)
}

// autoChunk is Map's automatic chunk size: Python's ceil(n / (4·workers)),
// bounded by what the executor takes in one piece.
func (p *Pool) autoChunk(f *poolFunc, n int) int {
	return min(max(1, ceilDiv(n, 4*max(p.nw, 1))), p.exec.maxChunk(f))
}

// Map runs the function registered as fn on every input and returns the
// results in input order, like Python's Pool.map. Inputs are cut into
// batches (Chunksize) that run on the pool's workers in parallel.
//
// A task that fails does not stop the others: Map returns every result,
// the failed tasks' as zero values, together with a TaskErrors listing the
// failures in input order. Any other error — an unknown function, types
// that differ from its registration, an input that cannot be encoded (found
// before anything runs, and named with its index and type), ctx ending
// (then Map returns at once), the pool closing — comes with nil results.
func Map[In, Out any](ctx context.Context, p *Pool, fn string, inputs []In, opts ...CallOption) ([]Out, error) {
	c, outs, err := startMap[In, Out](ctx, p, fn, inputs, opts)
	if err != nil || c == nil {
		return outs, err
	}
	if err := c.wait(ctx); err != nil {
		return nil, err
	}
	if len(c.errs) > 0 {
		return outs, c.taskErrors()
	}
	return outs, nil
}

// startMap checks and submits a Map; c is nil when there is nothing to run.
func startMap[In, Out any](ctx context.Context, p *Pool, fn string, inputs []In, opts []CallOption) (*call, []Out, error) {
	f, err := funcFor[In, Out](fn)
	if err != nil {
		return nil, nil, err
	}
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if i, err := f.ops.checkIn(inputs); err != nil {
		return nil, nil, encodeError(f, i, inputs[i], err)
	}
	o := applyCallOpts(opts)
	n := len(inputs)
	outs := make([]Out, n)
	if n == 0 {
		return nil, outs, nil
	}
	c := p.newCall(ctx, f, o)
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

// Apply runs the function registered as fn on one input and returns its
// result, like Python's Pool.apply. A failure of the task is returned as a
// *TaskError.
func Apply[In, Out any](ctx context.Context, p *Pool, fn string, in In, opts ...CallOption) (Out, error) {
	outs, err := Map[In, Out](ctx, p, fn, []In{in}, opts...)
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

// ApplyAsync starts the function registered as fn on one input and returns
// a Future for its result at once, like Python's Pool.apply_async. ctx
// bounds the task: when it ends the task is canceled and the Future fails
// with ctx.Err(). Errors that Apply would return before running anything
// are the Future's result at once.
func ApplyAsync[In, Out any](ctx context.Context, p *Pool, fn string, in In, opts ...CallOption) *Future[Out] {
	fut := &Future[Out]{done: make(chan struct{})}
	inputs := []In{in}
	c, _, err := startMapAsync[In, Out](ctx, p, fn, inputs, opts, fut)
	if err != nil {
		var zero Out
		fut.set(zero, err)
		return fut
	}
	_ = c
	return fut
}

// startMapAsync is startMap for ApplyAsync: the call completes the Future,
// and ctx ending cancels it.
func startMapAsync[In, Out any](ctx context.Context, p *Pool, fn string, inputs []In, opts []CallOption, fut *Future[Out]) (*call, []Out, error) {
	f, err := funcFor[In, Out](fn)
	if err != nil {
		return nil, nil, err
	}
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if i, err := f.ops.checkIn(inputs); err != nil {
		return nil, nil, encodeError(f, i, inputs[i], err)
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
		return nil, nil, err
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
	return c, outs, nil
}

// Result is a result of ImapUnordered: the index of the task's input in the
// input sequence, and the function's result.
type Result[Out any] struct {
	Index int
	Value Out
}

// Imap runs the function registered as fn on each input of the sequence and
// yields the results in input order, like Python's Pool.imap. It streams:
// inputs are read as workers have room (at most 4·workers batches are in
// flight or waiting to be yielded), so memory stays bounded for a long or
// endless sequence, and breaking out of the loop stops the call (its queued
// batches are dropped, its running tasks see their context done) and leaves
// the workers free.
//
// Each element is yielded with its task's error (a *TaskError, zero
// result) or nil. An error of the whole call — an unknown function, an
// input that cannot be encoded, ctx ending, the pool closing — is yielded
// once, with a zero result, and ends the sequence.
//
// The input sequence is read by the goroutine that ranges over Imap, with
// iter.Pull, and is stopped when the loop ends.
func Imap[In, Out any](ctx context.Context, p *Pool, fn string, inputs iter.Seq[In], opts ...CallOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		runStream(ctx, p, fn, inputs, opts, true, func(_ int, v Out, err error) bool { return yield(v, err) })
	}
}

// ImapUnordered is Imap that yields the results as their batches complete,
// in any order, each with the index of its input (Python's
// Pool.imap_unordered). Every task is yielded exactly once. A call-level
// error is yielded with Index -1.
func ImapUnordered[In, Out any](ctx context.Context, p *Pool, fn string, inputs iter.Seq[In], opts ...CallOption) iter.Seq2[Result[Out], error] {
	return func(yield func(Result[Out], error) bool) {
		runStream(ctx, p, fn, inputs, opts, false, func(i int, v Out, err error) bool {
			return yield(Result[Out]{Index: i, Value: v}, err)
		})
	}
}

// streamTarget is the run time an adaptive stream aims at per batch.
const streamTarget = time.Millisecond

// runStream drives Imap (ordered) and ImapUnordered. emit gets index -1 for
// an error of the whole call.
func runStream[In, Out any](ctx context.Context, p *Pool, fn string, inputs iter.Seq[In], opts []CallOption, ordered bool, emit func(int, Out, error) bool) {
	var zero Out
	f, err := funcFor[In, Out](fn)
	if err == nil {
		err = p.check()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		emit(-1, zero, err)
		return
	}
	o := applyCallOpts(opts)
	c := p.newCall(ctx, f, o)
	c.stream, c.anyOrder = true, !ordered
	defer func() {
		p.exec.cancel(c)
		c.finish(context.Canceled)
	}()
	next, stop := iter.Pull(inputs)
	defer stop()

	window := max(4*p.nw, 4)
	maxChunk := min(p.exec.maxChunk(f), maxBatchTasks)
	chunk := 1
	if o.chunk > 0 {
		chunk = min(o.chunk, maxChunk)
	}
	var order []*batch // ordered: submitted, not yet yielded
	inflight := 0
	idx := 0
	exhausted := false
	var freeIn [][]In
	var freeOut [][]Out
	for {
		for !exhausted && inflight < window && ctx.Err() == nil {
			size := chunk
			if o.chunk <= 0 {
				size = c.adaptiveChunk(chunk, maxChunk)
				chunk = size
			}
			var ins []In
			if k := len(freeIn); k > 0 && cap(freeIn[k-1]) >= size {
				ins, freeIn = freeIn[k-1][:0], freeIn[:k-1]
			} else {
				ins = make([]In, 0, size)
			}
			for len(ins) < size {
				v, ok := next()
				if !ok {
					exhausted = true
					break
				}
				ins = append(ins, v)
			}
			if len(ins) == 0 {
				break
			}
			if i, err := f.ops.checkIn(ins); err != nil {
				emit(-1, zero, encodeError(f, idx+i, ins[i], err))
				return
			}
			var outs []Out
			if k := len(freeOut); k > 0 && cap(freeOut[k-1]) >= len(ins) {
				outs, freeOut = freeOut[k-1][:len(ins)], freeOut[:k-1]
				clear(outs)
			} else {
				outs = make([]Out, len(ins))
			}
			b := &batch{c: c, st: &store{ins: ins, outs: outs, lo: idx}, lo: idx, hi: idx + len(ins)}
			b.origin = b
			idx += len(ins)
			c.mu.Lock()
			c.left += len(ins)
			c.mu.Unlock()
			if err := p.exec.submit(c, []*batch{b}); err != nil {
				emit(-1, zero, err)
				return
			}
			inflight++
			if ordered {
				order = append(order, b)
			}
		}
		if inflight == 0 {
			if err := ctx.Err(); err != nil {
				emit(-1, zero, err)
			}
			return
		}
		b, err := c.next(ctx, order)
		if err != nil {
			emit(-1, zero, err)
			return
		}
		if ordered {
			order = order[1:]
		}
		inflight--
		slices.SortFunc(b.errs, func(x, y *TaskError) int { return x.Index - y.Index })
		outs := b.st.outs.([]Out)
		ei := 0
		for j := range outs {
			var terr error
			if ei < len(b.errs) && b.errs[ei].Index == b.lo+j {
				terr = b.errs[ei]
				ei++
			}
			if !emit(b.lo+j, outs[j], terr) {
				return
			}
		}
		freeIn = append(freeIn, b.st.ins.([]In))
		freeOut = append(freeOut, outs)
	}
}

// adaptiveChunk sizes the next batch of a stream from the measured run time
// per task: about streamTarget of work, at most twice the last batch.
func (c *call) adaptiveChunk(last, maxChunk int) int {
	c.mu.Lock()
	pt := c.perTask
	c.mu.Unlock()
	if pt <= 0 {
		return max(1, min(last, maxChunk))
	}
	want := int(float64(streamTarget) / max(pt, 1))
	return max(1, min(want, 2*last, maxChunk))
}

// next waits for the next batch to yield: the head of order (ordered), or
// any completed one.
func (c *call) next(ctx context.Context, order []*batch) (*batch, error) {
	for {
		c.mu.Lock()
		if c.finished && c.err != nil {
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		if order != nil {
			if b := order[0]; b.ready {
				c.mu.Unlock()
				return b, nil
			}
		} else if len(c.ready) > 0 {
			b := c.ready[0]
			c.ready = c.ready[1:]
			c.mu.Unlock()
			return b, nil
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
