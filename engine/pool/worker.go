package pool

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

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
	MaxRes  int // result messages are split above this size
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
	errs    []wireErr
	tctx    taskCtx
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
	w.spin = a.Spin
	slot.cur.Store(0)
	tq := a.Tasks[me-a.First]
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
	}
}

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
	w.errs = w.errs[:0]
	st := w.a.State
	tc := &w.tctx
	start := time.Now()
	var zero Out
	// With a timeout, each result is sent as soon as it is there: killing
	// the worker for a later task must not lose it.
	timed := h.timeout > 0
	sent := 0
	j := 0
	for ; j < n; j++ {
		if st.canceled(h.call) {
			break
		}
		w.slot.cur.Store(packCur(h.seq, j))
		tc.begin(st, w.c, h.call, h.timeout)
		out, stack, err := callTask(o.fn, tc, ins[j])
		tc.end()
		if err != nil {
			outs[j] = zero
			w.errs = append(w.errs, taskWireErr(uint32(j), err, stack))
		} else {
			outs[j] = out
		}
		if timed && j+1 < n {
			if err := o.sendResults(w, h, outs, j, j+1, 0); err != nil {
				return err
			}
			sent = j + 1
		}
	}
	for k := j; k < n; k++ {
		outs[k] = zero
		w.errs = append(w.errs, wireErr{idx: uint32(k), kind: ekCanceled, sentinel: uint8(remote.Code(context.Canceled)), msg: "call canceled"})
	}
	w.slot.cur.Store(packCur(h.seq, n))
	return o.sendResults(w, h, outs, sent, n, time.Since(start))
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

// sendResults sends the results [from, to) of a batch in one message, or in
// several if they are larger than the pool's limit for one. run, the batch's
// run time, goes with the part that ends the batch.
func (o *funcImpl[In, Out]) sendResults(w *poolWorker, h *taskHdr, outs []Out, from, to int, run time.Duration) error {
	fails := 0
	for off := from; off < to; {
		k := to - off
		for {
			ei := sort.Search(len(w.errs), func(i int) bool { return int(w.errs[i].idx) >= off })
			msg, flags, nerr, eb, err := o.encodeResults(w, outs, off, k, w.errs[ei:])
			if err != nil {
				if fails++; fails > 3 {
					return err
				}
				o.dropUnencodable(w, outs[off:off+k], off)
				continue
			}
			if len(msg) > w.a.MaxRes && k > 1 {
				w.out.reset() // the encoder counted types as sent in a message that is not
				k = max(1, k/2)
				continue
			}
			if len(msg) > w.maxMsg {
				// One result larger than the queue can hold.
				w.out.reset()
				var zero Out
				outs[off] = zero
				w.errs = insertWireErr(w.errs, wireErr{idx: uint32(off), kind: ekTooLarge,
					msg: fmt.Sprintf("result: %v: %d bytes encoded, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(msg), w.maxMsg)})
				continue
			}
			rh := resHdr{kind: rmResult, flags: flags, worker: uint16(w.me), n: uint32(k), session: w.session, seq: h.seq,
				off: uint32(off), nerr: uint32(nerr), errBytes: uint32(eb)}
			if off+k == len(outs) {
				rh.run = int64(run)
			}
			if w.broken {
				rh.flags |= rfWantReset
			}
			rh.put(msg)
			w.res = msg
			if err := w.put(msg); err != nil {
				return err
			}
			break
		}
		off += k
	}
	return nil
}

// encodeResults builds the result message for outs[off:off+k], with the
// errors among errs (sorted by index) that fall in the part.
func (o *funcImpl[In, Out]) encodeResults(w *poolWorker, outs []Out, off, k int, errs []wireErr) (msg []byte, flags uint8, nerr, eb int, err error) {
	b := append(w.res[:0], make([]byte, poolHdr)...)
	for _, e := range errs {
		if int(e.idx) >= off+k {
			break
		}
		b = appendWireErr(b, &e)
		nerr++
	}
	eb = len(b) - poolHdr
	b = append(b, make([]byte, pad8(eb)-eb)...)
	part := outs[off : off+k]
	if o.f.outFlat {
		b = append(b, rawBytes(part)...)
	} else {
		var fresh bool
		b, fresh, err = w.out.encode(b, part)
		if err != nil {
			return nil, 0, 0, 0, err
		}
		if fresh {
			flags |= rfStreamStart
		}
	}
	w.res = b
	return b, flags, nerr, eb, nil
}

// dropUnencodable replaces the results that gob cannot encode with zero
// values and records an error for each.
func (o *funcImpl[In, Out]) dropUnencodable(w *poolWorker, part []Out, off int) {
	enc := gob.NewEncoder(io.Discard)
	var zero Out
	for j := range part {
		if err := enc.Encode(&part[j]); err != nil {
			part[j] = zero
			w.errs = insertWireErr(w.errs, wireErr{idx: uint32(off + j), kind: ekEncode, sentinel: uint8(remote.Code(engine.ErrArgsEncode)),
				msg: fmt.Sprintf("result (%s): %v: %v; results cross to the coordinator with encoding/gob", o.f.out, engine.ErrArgsEncode, err)})
			enc = gob.NewEncoder(io.Discard)
		}
	}
}

// insertWireErr adds e to errs, kept sorted by index (replacing an entry
// for the same task).
func insertWireErr(errs []wireErr, e wireErr) []wireErr {
	for i := range errs {
		if errs[i].idx == e.idx {
			errs[i] = e
			return errs
		}
		if errs[i].idx > e.idx {
			errs = append(errs, wireErr{})
			copy(errs[i+1:], errs[i:])
			errs[i] = e
			return errs
		}
	}
	return append(errs, e)
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
