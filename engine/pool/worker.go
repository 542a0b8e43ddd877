package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
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
