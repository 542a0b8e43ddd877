package pool

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
)

// The worker side of direct calls: the kernel that runs a chunk of a
// direct call's tasks in place in the shared area.

// directArgs are the arguments of a direct call's For: only the area, so
// that they stay the same from call to call (the team then neither encodes
// nor decodes them again); the call itself is described in the area's call
// line.
type directArgs struct {
	Area  *directArea
	State *poolShared // the pool's: its initializer
}

// directK runs direct calls. It is not Idempotent: when a worker process
// dies the team stops the job at once and reports the death, and the
// coordinator reads from the task states what was done. The team's stall
// watch is off for it (StallLimit(-1)): a task may wait without using CPU
// time as long as it likes, as on the session path, and the pool's own watch
// (pool.StallLimit) still catches a stopped worker.
var directK = engine.Register("shmpar/pool.direct", runDirect, engine.StallLimit(-1))

// directWorker is a worker process's state for direct calls: the call it
// last resolved (area and round) and what it found there. A worker process
// runs one chunk at a time.
type directWorker struct {
	area  *directArea
	round uint64
	me    int
	ok    bool
	f     *poolFunc
	n     int
	jused int    // journal bytes used in this round
	nerr  uint32 // journal entries in this round
	fin   uint64 // tasks finished in the current chunk
	rfin  uint64 // tasks finished in the round
	prog  bool   // publish rfin after each task (cfProgress)
	ctx   directCtx
}

var directW directWorker

func runDirect(c *engine.Ctx, a directArgs, lo, hi int) error {
	ar, st := a.Area, a.State
	me := c.Worker()
	if ar == nil || ar.call == nil || st == nil || me < 0 || me >= len(ar.slots) || me >= len(st.slots) {
		return fmt.Errorf("pool direct call: participant %d: bad arguments", me)
	}
	w := &directW
	slot := &ar.slots[me]
	if round := ar.call.round.Load(); w.area != ar || w.round != round || w.me != me {
		w.resolve(ar, round, me, slot)
		if w.ok && st.init != nil {
			if r := ensureInit(c.Context(), initKey{st.pool, st.coord}, st.init); r.err != nil {
				st.putInitErr(me, r)
				slot.flags.Or(dfInitFailed)
				w.ok = false
			}
		}
	}
	if !w.ok {
		return nil // the tasks stay idle: the coordinator runs them another way
	}
	if lo < 0 || hi > w.n || lo > hi {
		slot.flags.Or(dfBadCall)
		return nil
	}
	w.ctx.c = c
	w.fin = 0
	w.f.ops.direct(w, c, slot, lo, hi)
	slot.done.Add(w.fin)
	return nil
}

// resolve reads the call line of a new round, checks it, binds the
// function's typed views of the area, and starts the slot's counters for the
// round. A call this worker cannot run leaves a flag and its tasks idle.
func (w *directWorker) resolve(ar *directArea, round uint64, me int, slot *directSlot) {
	w.area, w.round, w.me, w.ok = ar, round, me, false
	w.jused, w.nerr, w.rfin = 0, 0, 0
	w.prog = ar.call.flags.Load()&cfProgress != 0
	slot.done.Store(0)
	slot.live.Store(0)
	slot.nerr.Store(0)
	slot.jbytes.Store(0)
	slot.flags.Store(0)
	slot.pid.Store(int64(os.Getpid()))
	slot.round.Store(round)

	cl := ar.call
	n := int(cl.n.Load())
	in, out := int(cl.inSize.Load()), int(cl.outSize.Load())
	nl := int(cl.nameLen.Load())
	if nl > len(cl.name) || n < 0 || n > directMaxTasks {
		slot.flags.Or(dfBadCall)
		return
	}
	name := cl.name[:nl]
	if w.f == nil || w.f.name != string(name) {
		w.f, _ = funcs.Lookup(string(name))
	}
	f := w.f
	if f == nil {
		slot.flags.Or(dfUnknownFunc)
		return
	}
	so, io, oo, end := directPlan(n, in, out)
	if !f.direct || int(f.in.Size()) != in || int(f.out.Size()) != out || end > len(ar.data) ||
		cl.stateOff.Load() != uint64(so) || cl.inOff.Load() != uint64(io) || cl.outOff.Load() != uint64(oo) {
		slot.flags.Or(dfBadCall)
		return
	}
	f.ops.directBind(ar, so, io, oo, n)
	w.n, w.ok = n, true
}

// publish makes the count of tasks finished in the round visible to the
// coordinator's progress reports (of a large window: see directArea.live).
// It runs every 64 tasks: after each, even as a plain store, it cost a Map
// of tiny tasks a third of its speed. It is a plain store, not an atomic
// one (an exchange): the word is aligned, so the coordinator's atomic load
// never sees it torn, and the task call after it keeps the compiler from
// holding it back.
func (w *directWorker) publish(slot *directSlot) {
	*(*uint64)(unsafe.Pointer(&slot.live)) = w.rfin
}

// record journals the failure of a task and commits it: the bytes first,
// then the count the coordinator reads first.
func (w *directWorker) record(slot *directSlot, e wireErr) {
	w.jused = putDirectErr(w.area.journal(w.me), w.jused, &e)
	w.nerr++
	slot.jbytes.Store(uint32(w.jused))
	slot.nerr.Store(w.nerr)
}

// full reports that the journal might not hold the failure of one more
// task.
func (w *directWorker) full() bool { return w.jused+directEntryMax > directJournal }

// viewRaw views n values of the flat type T at off in b (64-byte aligned,
// bounds checked by the caller).
func viewRaw[T any](b []byte, off, n int) []T {
	var z T
	if n == 0 || unsafe.Sizeof(z) == 0 {
		return make([]T, n)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[off])), n)
}

// directBind makes the function's views of a direct call's states, inputs
// and results in the area.
func (o *funcImpl[In, Out]) directBind(ar *directArea, so, io, oo, n int) {
	o.dSt = ar.states(so, n)
	o.dIns = viewRaw[In](ar.data, io, n)
	o.dOuts = viewRaw[Out](ar.data, oo, n)
}

// direct runs the tasks [lo, hi) of a direct call that are still idle.
func (o *funcImpl[In, Out]) direct(w *directWorker, c *engine.Ctx, slot *directSlot, lo, hi int) {
	for j := lo; j < hi; {
		j = o.directRun(w, c, slot, j, hi)
	}
}

// directRun runs tasks from j until hi, or until one panics: then it
// records the panic and returns the index after it.
func (o *funcImpl[In, Out]) directRun(w *directWorker, c *engine.Ctx, slot *directSlot, j, hi int) (next int) {
	st, ins, outs := o.dSt, o.dIns, o.dOuts
	tag := directTag(w.me)
	defer func() {
		if r := recover(); r != nil {
			var zero Out
			outs[j] = zero
			w.record(slot, wireErr{idx: uint32(j), kind: ekPanic, msg: fmt.Sprint(r), stack: string(debug.Stack())})
			st[j] = tag | dsFailed
			w.fin++
			w.rfin++
			if w.prog && w.rfin&63 == 0 {
				w.publish(slot)
			}
			next = j + 1
		}
	}()
	for ; j < hi; j++ {
		if st[j] != dsIdle {
			continue
		}
		if w.full() {
			slot.flags.Or(dfJournalFull)
			return hi
		}
		if c.Err() != nil {
			return hi
		}
		st[j] = tag | dsRunning
		out, err := o.fn(&w.ctx, ins[j])
		if err != nil {
			var zero Out
			outs[j] = zero
			w.record(slot, taskWireErr(uint32(j), err, ""))
			st[j] = tag | dsFailed
		} else {
			outs[j] = out
			st[j] = tag | dsDone
		}
		w.fin++
		w.rfin++
		if w.prog && w.rfin&63 == 0 {
			w.publish(slot)
		}
	}
	return hi
}

// directCtx is the context of a task of a direct call: done when the job
// stops (the call's context ended, or the pool is closing).
type directCtx struct{ c *engine.Ctx }

func (d *directCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d *directCtx) Done() <-chan struct{}       { return d.c.Context().Done() }
func (d *directCtx) Err() error                  { return d.c.Err() }
func (d *directCtx) Value(any) any               { return nil }
func (d *directCtx) String() string              { return "pool.directTaskContext" }

var _ context.Context = (*directCtx)(nil)
