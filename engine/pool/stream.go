package pool

import (
	"context"
	"iter"
	"slices"
	"time"
)

// Result is a result of ImapUnordered: the index of the task's input in the
// input sequence, and the function's result.
type Result[Out any] struct {
	Index int
	Value Out
}

// Imap runs the function on each input of the sequence on pool p and yields
// the results in input order, like Python's Pool.imap. It streams:
// inputs are read as workers have room (at most 4·workers batches are in
// flight or waiting to be yielded), so memory stays bounded for a long or
// endless sequence, and breaking out of the loop stops the call (its queued
// batches are dropped, its running tasks see their context done) and leaves
// the workers free.
//
// Each element is yielded with its task's error (a *TaskError, zero
// result) or nil. An error of the whole call — an input that cannot be
// encoded, ctx ending, the pool closing — is yielded once, with a zero
// result, and ends the sequence.
//
// The input sequence is read by the goroutine that ranges over Imap, with
// iter.Pull, and is stopped when the loop ends.
func (h *Func[In, Out]) Imap(ctx context.Context, p *Pool, inputs iter.Seq[In], opts ...CallOption) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		runStream(ctx, p, h, inputs, opts, true, func(_ int, v Out, err error) bool { return yield(v, err) })
	}
}

// ImapUnordered is Imap that yields the results as their batches complete,
// in any order, each with the index of its input (Python's
// Pool.imap_unordered). Every task is yielded exactly once. A call-level
// error is yielded with Index -1.
func (h *Func[In, Out]) ImapUnordered(ctx context.Context, p *Pool, inputs iter.Seq[In], opts ...CallOption) iter.Seq2[Result[Out], error] {
	return func(yield func(Result[Out], error) bool) {
		runStream(ctx, p, h, inputs, opts, false, func(i int, v Out, err error) bool {
			return yield(Result[Out]{Index: i, Value: v}, err)
		})
	}
}

// streamTarget is the run time an adaptive stream aims at per batch.
const streamTarget = time.Millisecond

// runStream drives Imap (ordered) and ImapUnordered. emit gets index -1 for
// an error of the whole call.
func runStream[In, Out any](ctx context.Context, p *Pool, h *Func[In, Out], inputs iter.Seq[In], opts []CallOption, ordered bool, emit func(int, Out, error) bool) {
	var zero Out
	f, err := h.check()
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
