package pool

import (
	"fmt"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// Sending: the dispatcher hands pending batches to the workers with room,
// encoding each batch as late as possible for the worker it goes to, and
// passes finished tasks to their calls.

// dispatch sends pending batches to workers with room.
func (q *procPool) dispatch() {
	for len(q.pending) > 0 {
		b := q.pending[0]
		if b.c.dead {
			q.popFront()
			continue
		}
		w := q.pick(b)
		if w == nil {
			return
		}
		q.send(w, b)
	}
}

// pick chooses the worker with the fewest batches in flight among those
// with room for b.
func (q *procPool) pick(b *batch) *pworker {
	depth := 1
	switch ns := b.c.batchNs; {
	case ns <= 0:
	case ns < float64(poolTinyBatch):
		depth = 4
	case ns < float64(poolShortBatch):
		depth = 2
	}
	var best *pworker
	n := len(q.ws)
	for k := range n {
		w := q.ws[(q.rr+k)%n]
		if w == nil || !w.live || w.stopped || w.full || w.kill != killNone || len(w.flight) >= depth {
			continue
		}
		if q.maxTasks > 0 && w.tasksSent >= q.maxTasks {
			continue
		}
		if best == nil || len(w.flight) < len(best.flight) {
			best = w
		}
	}
	if best != nil {
		q.rr = best.idx + 1
	}
	return best
}

func (q *procPool) popFront() {
	q.pending[0] = nil
	q.pending = q.pending[1:]
	if len(q.pending) == 0 {
		q.pending = nil
	}
}

// pushFront puts batches back at the head of the pending list, in order.
func (q *procPool) pushFront(bs ...*batch) {
	if len(bs) == 0 {
		return
	}
	q.pending = append(bs[:len(bs):len(bs)], q.pending...)
}

// splitFront replaces the head batch by its first k tasks and the rest.
func (q *procPool) splitFront(k int) {
	b := q.pending[0]
	q.popFront()
	q.pushFront(b.sub(0, k), b.sub(k, b.n()))
}

// send encodes the head batch b for worker w and queues it there.
func (q *procPool) send(w *pworker, b *batch) {
	c := b.c
	n := b.n()
	if q.maxTasks > 0 && n > q.maxTasks-w.tasksSent {
		q.splitFront(q.maxTasks - w.tasksSent)
		return
	}
	if c.bpt > 0 && n > 1 && c.bpt*n > q.maxTask {
		q.splitFront(max(1, q.maxTask/c.bpt))
		return
	}
	name := c.f.name
	m := append(q.mbuf[:0], make([]byte, poolHdr+pad8(len(name)))...)
	copy(m[poolHdr:], name)
	si, sj := b.span()
	m, fresh, err := c.f.ops.encodeIn(&w.out, m, b.st.ins, si, sj)
	q.mbuf = m[:0]
	if err != nil {
		q.popFront()
		q.failTasks(b, 0, n, -1, 0, func(int) error {
			return fmt.Errorf("input (%s): %w: %v; inputs cross to worker processes with encoding/gob", c.f.in, engine.ErrArgsEncode, err)
		})
		return
	}
	size := len(m) - poolHdr - pad8(len(name))
	if size > q.maxTask && n > 1 {
		w.out.reset()
		c.bpt = max(c.bpt, size/n+1)
		q.splitFront(n / 2)
		return
	}
	if len(m) > q.maxMsg {
		w.out.reset()
		q.popFront()
		q.failTasks(b, 0, n, -1, 0, func(int) error {
			return fmt.Errorf("input: %w: %d bytes encoded, the pool's task queue takes at most %d (QueueSize); pass bulk data in a shared array", engine.ErrArgsTooLarge, size, q.maxMsg-poolHdr)
		})
		return
	}
	h := taskHdr{kind: tmBatch, nameLen: uint16(len(name)), n: uint32(n), session: q.session, seq: w.seq + 1, call: c.id, timeout: int64(c.timeout)}
	if fresh {
		h.flags |= tfStreamStart
	}
	if w.resetRes {
		h.flags |= tfResetResults
	}
	h.put(m)
	if err := q.putTask(w.idx, m); err != nil {
		w.out.reset()
		w.full = true
		return
	}
	q.popFront()
	if len(w.flight) == 0 {
		w.progress = time.Now() // work for an idle worker: its clock starts now
	}
	w.seq++
	w.resetRes = false
	b.seq, b.got = w.seq, 0
	w.flight = append(w.flight, b)
	w.tasksSent += n
	if q.maxTasks > 0 {
		q.ran[w.pid] = w.tasksSent
	}
	if n > 0 {
		c.bpt = max(c.bpt, size/n)
	}
}

// failTasks fails tasks [i, j) of b with the error errf gives for each
// index (relative to b).
func (q *procPool) failTasks(b *batch, i, j int, worker, pid int, errf func(int) error) {
	if b.c.dead {
		return
	}
	errs := make([]*TaskError, 0, j-i)
	for k := i; k < j; k++ {
		errs = append(errs, &TaskError{Func: b.c.f.name, Index: b.lo + k, Worker: worker, Failure: engine.Failure{PID: pid, Err: errf(k)}})
	}
	q.deliver(b, i, j, errs, 0)
}

// deliver passes results to the call and forgets a call once finished.
func (q *procPool) deliver(b *batch, i, j int, errs []*TaskError, perTask float64) {
	c := b.c
	c.deliver(b, i, j, errs, perTask)
	if c.isFinished() {
		delete(q.calls, c.id)
	}
}
