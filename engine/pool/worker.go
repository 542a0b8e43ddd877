package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/queue"
)

// The worker side of a Pool. A pool session is one For of the kernel
// server with one chunk per participant: each worker process serves its
// task queue until the coordinator sends it a stop message (or the job
// stops). The coordinator itself (a Primary participant) returns at once:
// it is busy feeding and collecting.

// poolArgs are the arguments of a pool session.
type poolArgs struct {
	Pool    uint64 // the pool's id, unique in the coordinator
	Session uint64
	Coord   int // the coordinator's pid
	First   int // participant index served by Tasks[0]
	Tasks   []*queue.Queue
	Results *queue.Queue
	State   *poolShared
	Spin    time.Duration
}

var server = engine.Register("shmpar/pool.server", serve)

func serve(c *engine.Ctx, a poolArgs, lo, hi int) error {
	if os.Getpid() == a.Coord {
		return nil // the primary participant runs no tasks
	}
	me := c.Worker()
	qi := me - a.First
	if a.State == nil || a.Results == nil || qi < 0 || qi >= len(a.Tasks) || me >= len(a.State.slots) {
		return fmt.Errorf("pool session: participant %d: bad arguments", me)
	}
	slot := &a.State.slots[me]
	if slot.finished.Load() == a.Session {
		return nil // a block stolen after this worker's own loop ended
	}
	w := poolWorkerFor(a.Pool)
	return w.serve(c, &a, me, slot)
}

// poolWorker is a worker process's pool state. Only one pool session runs in
// a worker process at a time.
type poolWorker struct {
	pool    uint64
	c       *engine.Ctx
	job     context.Context
	a       *poolArgs
	me      int
	slot    *poolSlot
	in      gobIn
	out     gobOut
	broken  bool // the task stream was lost: ask for a new one
	msg     []byte
	res     []byte
	tctx    taskCtx
	stg     *stageCtl // this worker's stage (in the pool's shared segment)
	stgMsg  []byte    // its message area: header and payload
	stgErrs []byte    // its error area
	scratch []byte    // a gob-encoded result before it is staged
	jout    gobOut    // the journal's stream (see stageResult)
	lastF   *poolFunc
	maxMsg  int
	spin    time.Duration
	pid     int
	session uint64
}

var poolWorkerState struct {
	mu sync.Mutex
	w  *poolWorker
}

func poolWorkerFor(id uint64) *poolWorker {
	poolWorkerState.mu.Lock()
	defer poolWorkerState.mu.Unlock()
	if w := poolWorkerState.w; w != nil && w.pool == id {
		return w
	}
	w := &poolWorker{pool: id, pid: os.Getpid()}
	poolWorkerState.w = w
	return w
}

// serve runs one session: hello, then batches until a stop message.
func (w *poolWorker) serve(c *engine.Ctx, a *poolArgs, me int, slot *poolSlot) error {
	w.c, w.a, w.me, w.slot, w.session = c, a, me, slot, a.Session
	w.job = c.Context()
	w.in, w.out, w.broken = gobIn{}, gobOut{}, false
	w.maxMsg = a.Results.MaxMessage()
	w.stg, w.stgMsg, w.stgErrs = a.State.stage(me)
	w.spin = a.Spin
	slot.cur.Store(0)
	tq := a.Tasks[me-a.First]
	if st := a.State; st.init != nil {
		if r := ensureInit(w.job, initKey{st.pool, st.coord}, st.init); r.err != nil {
			// The pool fails with it: tell the coordinator, and leave.
			st.putInitErr(me, r)
			if err := w.put(ctlMsg(rmInit, me, a.Session, uint64(w.pid))); err != nil {
				return w.stopped(err)
			}
			return nil
		}
	}
	if err := w.put(ctlMsg(rmHello, me, a.Session, uint64(w.pid))); err != nil {
		return w.stopped(err)
	}
	for {
		msg, err := w.get(tq)
		if err != nil {
			return w.stopped(err)
		}
		w.msg = msg
		var h taskHdr
		if err := h.get(msg); err != nil {
			return fmt.Errorf("pool session: task message: %w", err)
		}
		if h.session != a.Session {
			continue // left over from an earlier session (already accounted for)
		}
		switch h.kind {
		case tmStop:
			slot.finished.Store(a.Session)
			return nil
		case tmBatch:
		default:
			return fmt.Errorf("pool session: unknown task message kind %d", h.kind)
		}
		if h.flags&tfResetResults != 0 {
			w.out.reset()
		}
		if testStop != nil {
			testStop("got")
		}
		name, payload := h.body(msg)
		f := w.lastF
		if f == nil || f.name != string(name) {
			f, _ = funcs.Lookup(string(name))
			w.lastF = f
		}
		if f == nil {
			err = fmt.Errorf("%w: %q (register pool functions at package initialization, before engine.Main runs)", ErrUnknownFunc, name)
			w.in.dec = nil // the payload's types were not read
			err = w.sendFailure(&h, rfDecodeFail|rfWantReset, ekUnknown, err)
		} else {
			err = f.ops.serve(w, &h, payload)
		}
		if err != nil {
			return w.stopped(err)
		}
		if testStop != nil {
			testStop("sent")
		}
	}
}

// testStop, set by this package's tests in worker processes (from their
// environment), is called at the named moments of a worker's loop: "got"
// a batch, results "sent", a "task-done" in a batch.
var testStop func(moment string)

// stopped turns the error that ended a session's loop into the chunk's
// result: none when the job is stopping anyway.
func (w *poolWorker) stopped(err error) error {
	if w.c.Err() != nil {
		return nil
	}
	return fmt.Errorf("pool session: %w", err)
}

// get takes the next task message. While there is none it polls the
// worker's task bell for a while, yielding the CPU between polls, before it
// blocks on the queue.
func (w *poolWorker) get(tq *queue.Queue) ([]byte, error) {
	for {
		bell := w.slot.taskBell.Load()
		msg, err := tq.GetAppend(doneCtx, w.msg[:0])
		if err == nil || !errors.Is(err, queue.ErrEmpty) {
			return msg, err
		}
		if w.spin <= 0 || !spin.Until(w.spin, spin.WorkerPolls, func() bool {
			return w.slot.taskBell.Load() != bell || w.c.Err() != nil
		}) || w.c.Err() != nil {
			break
		}
	}
	return tq.GetAppend(w.job, w.msg[:0])
}

// put sends a message to the coordinator and rings its bell.
func (w *poolWorker) put(m []byte) error {
	if err := w.a.Results.Put(w.job, m); err != nil {
		return err
	}
	w.a.State.resBell.Add(1)
	return nil
}

// sendFailure reports a batch none of whose tasks ran.
func (w *poolWorker) sendFailure(h *taskHdr, flags uint8, kind uint8, err error) error {
	if w.broken {
		flags |= rfWantReset
	}
	e := wireErr{idx: 0, kind: kind, sentinel: uint8(remote.Code(err)), msg: err.Error()}
	b := append(w.res[:0], make([]byte, poolHdr)...)
	b = appendWireErr(b, &e)
	eb := len(b) - poolHdr
	b = append(b, make([]byte, pad8(eb)-eb)...)
	rh := resHdr{kind: rmResult, flags: flags, worker: uint16(w.me), session: w.session, seq: h.seq, nerr: 1, errBytes: uint32(eb)}
	rh.put(b)
	w.res = b
	return w.put(b)
}

// serve runs one batch in a worker process and sends its results.
func (o *funcImpl[In, Out]) serve(w *poolWorker, h *taskHdr, payload []byte) error {
	n := int(h.n)
	fresh := h.flags&tfStreamStart != 0
	if fresh {
		w.broken = false
	}
	var ins []In
	if o.f.inFlat {
		var ok bool
		if ins, ok = aliasRaw[In](payload, n); !ok {
			return w.sendFailure(h, rfDecodeFail, ekDecode, fmt.Errorf("batch payload of %d bytes for %d inputs of %s", len(payload), n, o.f.in))
		}
	} else {
		if cap(o.wIn) < n {
			o.wIn = make([]In, n)
		}
		s := o.wIn[:n]
		clear(s)
		s = s[:0]
		if err := w.in.decode(payload, fresh, &s); err != nil {
			if errors.Is(err, errStreamSync) || w.broken {
				// An earlier message was lost: this batch never ran.
				w.broken = true
				return w.sendFailure(h, rfNotRun|rfWantReset, ekDecode, err)
			}
			w.broken = true
			return w.sendFailure(h, rfDecodeFail|rfWantReset, ekDecode, fmt.Errorf("decode inputs (%s) in the worker: %w", o.f.in, err))
		}
		if len(s) != n {
			return w.sendFailure(h, rfDecodeFail, ekDecode, fmt.Errorf("%d inputs in a batch of %d", len(s), n))
		}
		ins = s
	}
	if cap(o.wOut) < n {
		o.wOut = make([]Out, n)
	}
	outs := o.wOut[:n]
	st := w.a.State
	tc := &w.tctx
	start := time.Now()
	w.stageBegin(h.seq)
	var zero Out
	j := 0
	for ; j < n; j++ {
		if st.canceled(h.call) {
			break
		}
		w.slot.cur.Store(packCur(h.seq, j))
		tc.begin(st, w.c, h.call, h.timeout)
		out, stack, err := callTask(o.fn, tc, ins[j])
		tc.end()
		var e *wireErr
		if err != nil {
			out = zero
			we := taskWireErr(uint32(j), err, stack)
			e = &we
		}
		if err := o.stageResult(w, h, outs, j, out, e); err != nil {
			return err
		}
		if testStop != nil {
			testStop("task-done")
		}
	}
	for k := j; k < n; k++ {
		e := wireErr{idx: uint32(k), kind: ekCanceled, sentinel: uint8(remote.Code(context.Canceled)), msg: "call canceled"}
		if err := o.stageResult(w, h, outs, k, zero, &e); err != nil {
			return err
		}
	}
	w.slot.cur.Store(packCur(h.seq, n))
	err := o.flush(w, h, outs, time.Since(start))
	clear(outs) // let go of what the results hold
	return err
}

// taskWireErr describes a task's failure for the coordinator.
func taskWireErr(j uint32, err error, stack string) wireErr {
	e := wireErr{idx: j, kind: ekError, sentinel: uint8(remote.Code(err)), msg: err.Error(), stack: stack}
	if pe, ok := err.(*engine.PanicError); ok {
		e.kind, e.msg = ekPanic, pe.Value
	}
	return e
}

// callTask runs fn on one input, turning a panic into a *PanicError with the
// stack.
func callTask[In, Out any](fn func(context.Context, In) (Out, error), ctx context.Context, in In) (out Out, stack string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &engine.PanicError{Value: fmt.Sprint(r)}
			stack = string(debug.Stack())
		}
	}()
	out, err = fn(ctx, in)
	return out, "", err
}

// The stage: each result is journaled in shared memory as its task
// finishes (see stageCtl), and the staged results are sent in one message
// when the stage is full or the batch is done.
//
// A flat result is staged as its bytes, and the stage is the message. A
// gob result is kept in the batch's slice of results, and journaled as a
// gob message of its own in a stream that starts afresh with each run of
// staged results (so the coordinator can read a dead worker's journal with
// a new decoder); the message carries the run as one gob message of the
// slice, in the worker's result stream, which is much cheaper to decode. A
// batch of one task is not journaled: its result is sent as soon as it is
// there.

// stageBegin starts staging the results of batch seq.
func (w *poolWorker) stageBegin(seq uint64) {
	*w.stg = stageCtl{seq: seq}
	w.jout.reset()
}

// sfNoJournal (in stageCtl.flags) says that a staged result has no
// journal entry: it is sent at once, from the batch's slice of results.
const sfNoJournal = 1

// stageResult stages the result of task j of the batch (and its failure,
// e), after sending what is staged if it does not fit. A gob result that
// cannot be encoded, or is too large for any message, is replaced by the
// zero value and an error saying so.
func (o *funcImpl[In, Out]) stageResult(w *poolWorker, h *taskHdr, outs []Out, j int, out Out, e *wireErr) error {
	ctl := w.stg
	pcap := len(w.stgMsg) - poolHdr - 8
	var vb []byte
	journal := true
	if o.f.outFlat {
		outs[j] = out
		vb = rawBytes(unsafe.Slice(&outs[j], 1))
		if len(vb) > w.maxMsg-poolHdr-8-len(w.stgErrs) {
			// No message can carry it: send the error with no value.
			if err := o.flush(w, h, outs, 0); err != nil {
				return err
			}
			e := wireErr{idx: uint32(j), kind: ekTooLarge,
				msg: fmt.Sprintf("result: %v: %d bytes, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(vb), w.maxMsg)}
			ctl.count = 1
			rh := resHdr{kind: rmResult, worker: uint16(w.me), n: 1, session: w.session, seq: h.seq, off: uint32(j)}
			return o.flushZero(w, h, outs, rh, e)
		}
		if len(vb) > pcap {
			journal = false
		}
	} else if len(outs) == 1 {
		journal = false
	} else {
		var err error
		for {
			vb, _, err = w.jout.encode(w.scratch[:0], &out)
			if err == nil && len(vb) > w.maxMsg-poolHdr-8 {
				e = &wireErr{idx: uint32(j), kind: ekTooLarge,
					msg: fmt.Sprintf("result: %v: %d bytes encoded, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(vb), w.maxMsg)}
				err = errDropped
			} else if err != nil {
				e = &wireErr{idx: uint32(j), kind: ekEncode, sentinel: uint8(remote.Code(engine.ErrArgsEncode)),
					msg: fmt.Sprintf("result (%s): %v: %v; results cross to the coordinator with encoding/gob", o.f.out, engine.ErrArgsEncode, err)}
			}
			fits := int(ctl.pbytes)+len(vb) <= pcap
			if err == nil && (fits || ctl.count == 0) {
				break
			}
			// A new run of the journal, whose stream starts again: send
			// what is staged first.
			if err := o.flush(w, h, outs, 0); err != nil {
				return err
			}
			w.jout.reset()
			if err != nil {
				var zero Out
				out = zero
			}
		}
		w.scratch = vb[:0]
		if len(vb) > pcap {
			journal = false // larger than the stage: sent alone, at once
		}
	}
	eb := 0
	if e != nil {
		cutWireErr(e, len(w.stgErrs))
		eb = wireErrHdr + len(e.msg) + len(e.stack)
	}
	if int(ctl.pbytes)+len(vb) > pcap || int(ctl.ebytes)+eb > len(w.stgErrs) {
		if err := o.flush(w, h, outs, 0); err != nil {
			return err
		}
		w.jout.reset()
		if !o.f.outFlat && journal {
			// Journaled again, at the start of the new run's stream.
			var err error
			if vb, _, err = w.jout.encode(w.scratch[:0], &out); err != nil {
				return fmt.Errorf("encode a result of %s again: %w", o.f.out, err)
			}
			w.scratch = vb[:0]
		}
	}
	outs[j] = out
	if journal {
		copy(w.stgMsg[poolHdr+int(ctl.pbytes):], vb)
		ctl.pbytes += uint32(len(vb))
	} else {
		ctl.flags |= sfNoJournal
	}
	if e != nil {
		putWireErr(w.stgErrs[ctl.ebytes:], e)
		ctl.ebytes += uint32(eb)
		ctl.nerr++
	}
	ctl.count++ // last: the result is staged
	if !journal && (o.f.outFlat || len(outs) > 1) {
		return o.flush(w, h, outs, 0)
	}
	return nil
}

// errDropped marks an encoded result that was not sent.
var errDropped = errors.New("result dropped")

// flush sends what is staged as one message and empties the stage; run,
// the batch's run time, goes with the message that ends the batch.
func (o *funcImpl[In, Out]) flush(w *poolWorker, h *taskHdr, outs []Out, run time.Duration) error {
	ctl := w.stg
	if ctl.count == 0 {
		return nil
	}
	rh := resHdr{kind: rmResult, worker: uint16(w.me), n: ctl.count, session: w.session, seq: h.seq,
		off: ctl.off, nerr: ctl.nerr, errBytes: ctl.ebytes}
	if int(ctl.off+ctl.count) == int(h.n) {
		rh.run = int64(run)
	}
	if w.broken {
		rh.flags |= rfWantReset
	}
	var m []byte
	if o.f.outFlat && ctl.flags&sfNoJournal != 0 {
		// A result larger than the stage, alone.
		b := append(append(w.res[:0], make([]byte, poolHdr)...), rawBytes(outs[ctl.off:ctl.off+ctl.count])...)
		rh.pbytes = uint32(len(b) - poolHdr)
		b = append(b, make([]byte, pad8(len(b))-len(b))...)
		m = append(b, w.stgErrs[:ctl.ebytes]...)
		w.res = m
	} else if o.f.outFlat {
		rh.pbytes = ctl.pbytes
		pend := poolHdr + pad8(int(ctl.pbytes))
		m = w.stgMsg[:pend]
		clear(m[poolHdr+int(ctl.pbytes):])
		if ctl.nerr > 0 {
			m = append(append(w.res[:0], m...), w.stgErrs[:ctl.ebytes]...)
			w.res = m
		}
	} else {
		b := append(w.res[:0], make([]byte, poolHdr)...)
		b, fresh, err := w.out.encode(b, outs[ctl.off:ctl.off+ctl.count])
		if err != nil {
			// Only a result that was not journaled (a batch of one) can
			// fail here: send a zero value and the error instead.
			var zero Out
			for k := ctl.off; k < ctl.off+ctl.count; k++ {
				outs[k] = zero
			}
			e := wireErr{idx: ctl.off, kind: ekEncode, sentinel: uint8(remote.Code(engine.ErrArgsEncode)),
				msg: fmt.Sprintf("result (%s): %v: %v; results cross to the coordinator with encoding/gob", o.f.out, engine.ErrArgsEncode, err)}
			if len(b)-poolHdr > w.maxMsg-poolHdr-8-int(ctl.ebytes) {
				e.kind, e.sentinel = ekTooLarge, 0
			}
			return o.flushZero(w, h, outs, rh, e)
		}
		if fresh {
			rh.flags |= rfStreamStart
		}
		if len(b)+8+int(ctl.ebytes) > w.maxMsg {
			// One result larger than the queue can hold (a batch of one).
			w.out.reset()
			e := wireErr{idx: ctl.off, kind: ekTooLarge,
				msg: fmt.Sprintf("result: %v: %d bytes encoded, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(b)-poolHdr, w.maxMsg)}
			return o.flushZero(w, h, outs, rh, e)
		}
		rh.pbytes = uint32(len(b) - poolHdr)
		b = append(b, make([]byte, pad8(len(b))-len(b))...)
		b = append(b, w.stgErrs[:ctl.ebytes]...)
		m, w.res = b, b
	}
	rh.put(m)
	if err := w.put(m); err != nil {
		return err
	}
	*ctl = stageCtl{seq: ctl.seq, off: ctl.off + ctl.count}
	w.jout.reset() // the next run's journal is a stream of its own
	return nil
}

// flushZero sends the staged run of one result (its task had no error) as
// a zero value with error e, when the result itself cannot be sent.
func (o *funcImpl[In, Out]) flushZero(w *poolWorker, h *taskHdr, outs []Out, rh resHdr, e wireErr) error {
	ctl := w.stg
	if ctl.count != 1 || ctl.nerr != 0 {
		return fmt.Errorf("results of %s cannot be sent: %s", o.f.out, e.msg)
	}
	var zero Out
	outs[ctl.off] = zero
	b := append(w.res[:0], make([]byte, poolHdr)...)
	rh.flags &^= rfStreamStart
	if !o.f.outFlat {
		// (A flat result goes with no payload: the coordinator leaves
		// the zero value.)
		var fresh bool
		var err error
		if b, fresh, err = w.out.encode(b, outs[ctl.off:ctl.off+1]); err != nil {
			return fmt.Errorf("encode a zero %s: %w", o.f.out, err)
		}
		if fresh {
			rh.flags |= rfStreamStart
		}
	}
	rh.pbytes = uint32(len(b) - poolHdr)
	b = append(b, make([]byte, pad8(len(b))-len(b))...)
	cutWireErr(&e, w.maxMsg/2)
	b = appendWireErr(b, &e)
	rh.nerr, rh.errBytes = 1, uint32(wireErrHdr+len(e.msg)+len(e.stack))
	rh.put(b)
	w.res = b
	if err := w.put(b); err != nil {
		return err
	}
	*ctl = stageCtl{seq: ctl.seq, off: ctl.off + ctl.count}
	w.jout.reset()
	return nil
}

// taskCtx is the context a task gets in a worker process: done when the call
// is canceled, the task's deadline passes, or the session stops. One value
// is reused from task to task; Done starts a poller only when a task asks
// for the channel.
type taskCtx struct {
	st       *poolShared
	job      *engine.Ctx
	call     uint64
	deadline time.Time
	hasDL    bool
	mu       sync.Mutex
	done     chan struct{}
	stop     chan struct{}
}

func (c *taskCtx) begin(st *poolShared, job *engine.Ctx, call uint64, timeout int64) {
	c.st, c.job, c.call = st, job, call
	c.hasDL = timeout > 0
	if c.hasDL {
		c.deadline = time.Now().Add(time.Duration(timeout))
	}
}

func (c *taskCtx) end() {
	c.mu.Lock()
	if c.done != nil {
		close(c.stop)
		c.done, c.stop = nil, nil
	}
	c.mu.Unlock()
}

func (c *taskCtx) Deadline() (time.Time, bool) { return c.deadline, c.hasDL }
func (c *taskCtx) Value(any) any               { return nil }
func (c *taskCtx) String() string              { return "pool.taskContext" }

func (c *taskCtx) Err() error {
	return taskErrOf(c.st, c.job, c.call, c.deadline, c.hasDL)
}

func taskErrOf(st *poolShared, job *engine.Ctx, call uint64, deadline time.Time, hasDL bool) error {
	if st.canceled(call) || job.Err() != nil {
		return context.Canceled
	}
	if hasDL && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *taskCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done, c.stop = make(chan struct{}), make(chan struct{})
		go pollTask(c.st, c.job, c.call, c.deadline, c.hasDL, c.done, c.stop)
	}
	return c.done
}

// pollTask closes done when the task's context ends (checked every
// millisecond), or returns when the task does.
func pollTask(st *poolShared, job *engine.Ctx, call uint64, deadline time.Time, hasDL bool, done, stop chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if taskErrOf(st, job, call, deadline, hasDL) != nil {
				close(done)
				return
			}
		}
	}
}
