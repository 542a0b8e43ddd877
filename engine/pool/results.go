package pool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/remote"
)

// Results: the messages workers send back, decoded into the calls'
// outputs, and the task errors they carry.

// handle acts on one message of the result queue.
func (q *procPool) handle(msg []byte) {
	var h resHdr
	if h.get(msg) != nil {
		return
	}
	switch h.kind {
	case rmPoke:
	case rmEnd:
		if h.session == q.session && q.sstate != sessIdle {
			q.endSession()
		}
	case rmHello:
		q.hello(&h)
	case rmInit:
		if h.session == q.session && int(h.worker) < q.parts {
			q.initFailed(q.st.initErr(int(h.worker), int(h.seq)))
		}
	case rmDeath:
		if h.session != q.session || int(h.worker) >= len(q.ws) {
			return
		}
		if w := q.ws[h.worker]; w != nil && w.live && w.pid == int(h.seq) {
			q.death(w)
		} else if w == nil && q.watched != nil && q.watched[h.worker] == int(h.seq) {
			q.drain() // died before its hello: start again on a full team
		}
	case rmResult:
		q.result(&h, msg)
	}
}

// result takes one result message: it decodes the values into the call's
// output and delivers the tasks.
func (q *procPool) result(h *resHdr, msg []byte) {
	i := int(h.worker)
	if h.session != q.session || i >= len(q.ws) {
		return
	}
	w := q.ws[i]
	if w == nil || !w.live {
		return
	}
	w.full = false
	w.progress = time.Now()
	if h.flags&rfWantReset != 0 {
		w.out.reset()
	}
	if len(w.flight) == 0 || w.flight[0].seq != h.seq || int(h.off) != w.flight[0].got || int(h.off)+int(h.n) > w.flight[0].n() {
		q.protocol(w, fmt.Sprintf("result for batch %d at %d (+%d) out of order", h.seq, h.off, h.n))
		return
	}
	b := w.flight[0]
	fb := b
	c := b.c
	errB, payload := h.body(msg)
	wes, perr := parseWireErrs(errB, int(h.nerr))
	if perr != nil {
		q.protocol(w, perr.Error())
		return
	}
	q.useful, q.failStreak = true, 0
	n := int(h.n)
	perTask := 0.0
	if h.run > 0 {
		if c.batchNs == 0 {
			c.batchNs = float64(h.run)
		} else {
			c.batchNs = 0.7*c.batchNs + 0.3*float64(h.run)
		}
		perTask = float64(h.run) / float64(b.n())
	}
	switch {
	case h.flags&rfNotRun != 0:
		w.flight = w.flight[1:]
		q.pushFront(b.sub(fb.got, b.n()))
		return
	case h.flags&rfDecodeFail != 0 && len(wes) > 0 && wes[0].kind == ekUnknown:
		// The worker does not have the function: no task of the batch can
		// run there, nor on the other workers (the same program).
		w.flight = w.flight[1:]
		text := wes[0].msg
		q.failTasks(b, fb.got, b.n(), w.idx, w.pid, func(int) error { return &remote.Error{Msg: text, Sentinel: ErrUnknownFunc} })
		return
	case h.flags&rfDecodeFail != 0:
		w.flight = w.flight[1:]
		rest := b.sub(fb.got, b.n())
		if rest.n() > 1 {
			// Find the inputs that fail: send them one by one.
			parts := make([]*batch, rest.n())
			for k := range parts {
				parts[k] = rest.sub(k, k+1)
			}
			q.pushFront(parts...)
			return
		}
		text := "decode failed"
		if len(wes) > 0 {
			text = wes[0].msg
		}
		q.failTasks(b, fb.got, b.n(), w.idx, w.pid, func(int) error { return &remote.Error{Msg: text, Sentinel: engine.ErrArgsEncode} })
		return
	}
	fresh := h.flags&rfStreamStart != 0
	var derr error
	if c.dead {
		if !c.f.outFlat {
			_ = c.f.ops.decodeOut(&w.in, payload, fresh, c.f.ops.newOut(n), 0, n)
		}
	} else {
		si, _ := b.span()
		derr = c.f.ops.decodeOut(&w.in, payload, fresh, b.st.outs, si+fb.got, si+fb.got+n)
		if derr != nil {
			w.resetRes = true
		}
	}
	lo := fb.got
	fb.got += n
	if fb.got >= b.n() {
		w.flight[0] = nil
		w.flight = w.flight[1:]
		if len(w.flight) == 0 {
			w.flight = nil
		}
	}
	if c.dead {
		return
	}
	var errs []*TaskError
	if derr != nil {
		errs = make([]*TaskError, 0, n)
		for k := range n {
			errs = append(errs, &TaskError{
				Func:    c.f.name,
				Index:   b.lo + lo + k,
				Worker:  w.idx,
				Failure: engine.Failure{PID: w.pid, Err: fmt.Errorf("decode results (%s) from the worker: %w", c.f.out, derr)},
			})
		}
	} else if len(wes) > 0 {
		errs = make([]*TaskError, 0, len(wes))
		for _, e := range wes {
			if int(e.idx) < lo || int(e.idx) >= lo+n {
				continue
			}
			errs = append(errs, q.taskError(b, w, e))
		}
	}
	q.deliver(b, lo, lo+n, errs, perTask)
}

// taskError recreates a worker's report of a failed task.
func (q *procPool) taskError(b *batch, w *pworker, e wireErr) *TaskError {
	te := &TaskError{Func: b.c.f.name, Index: b.lo + int(e.idx), Worker: w.idx, Failure: engine.Failure{PID: w.pid, Stack: e.stack}}
	te.Err = timeoutCause(b.c, wireTaskErr(e))
	return te
}

// wireTaskErr recreates the error of a task failure a worker reported.
func wireTaskErr(e wireErr) error {
	switch e.kind {
	case ekPanic:
		return &engine.PanicError{Value: e.msg}
	case ekEncode:
		return &remote.Error{Msg: e.msg, Sentinel: engine.ErrArgsEncode}
	case ekTooLarge:
		return &remote.Error{Msg: e.msg, Sentinel: engine.ErrArgsTooLarge}
	}
	return remote.New(e.msg, uint32(e.sentinel))
}

// overtime is how long past its start a task with timeout d is stopped: a
// little after d, so that a task that watches its context (whose deadline
// is d) returns by itself first.
func overtime(d time.Duration) time.Duration { return d + d/20 + time.Millisecond }

// timeoutCause marks a task error that is its context's deadline (the call's
// Timeout) as ErrTaskTimeout too.
func timeoutCause(c *call, err error) error {
	if c.timeout > 0 && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTaskTimeout) {
		return fmt.Errorf("%w (%v): %w", ErrTaskTimeout, c.timeout, err)
	}
	return err
}

// protocol handles a message that breaks the protocol: the worker is killed
// and its tasks are accounted for as after a death.
func (q *procPool) protocol(w *pworker, what string) {
	if w.kill == killNone {
		w.kill = killProtocol
		q.sup.Kill(w.idx, w.pid)
	}
	_ = what
}
