package engine

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// listEntry is one chunk of an explicit chunk list (a job that re-runs the
// chunks a dead worker left unfinished): its bounds and the index of its
// partial result.
type listEntry struct {
	lo, hi, idx int64
}

// chunkRec is where a participant records the chunk it is about to run or
// is running, so that the coordinator knows what a dead worker left behind.
// Goroutine participants do not record (they cannot die alone).
type chunkRec interface {
	claim(c int64)         // tentative: c may still be taken by another participant
	running(lo, hi int64)  // c is ours; it covers [lo, hi)
	staticDone(gen uint32) // the static block of this participant is done
	idle()                 // no chunk
}

// runner is what every participant of one job shares: the goroutines of the
// goroutine backend, the coordinator as primary participant, and (each
// with its own copy over the same shared memory) the worker processes.
type runner struct {
	k        *kernel
	args     any
	p        *plan
	gen      uint32
	guided   []int       // guidedStarts for a guided plan
	list     []listEntry // for a list plan
	next     *atomic.Int64
	stop     *atomic.Uint32
	partials []uint64 // reduce: partial result of chunk i at [i]

	// fail records the first failure and sets the stop word.
	fail func(worker int, lo, hi int, err error, stack string)
}

// participate runs the chunks that fall to participant c.worker until
// there are none left or the job stops.
func (r *runner) participate(c *Ctx, rec chunkRec) {
	p := r.p
	if p.sched == schedStatic {
		ci := c.worker
		if ci >= p.k || r.stop.Load() != stopNone {
			return
		}
		lo, hi := p.chunk(ci, nil)
		if rec != nil {
			rec.claim(int64(ci))
			rec.running(int64(lo), int64(hi))
		}
		if r.runChunk(c, ci, lo, hi) && rec != nil {
			rec.staticDone(r.gen)
		}
		if rec != nil {
			rec.idle()
		}
		return
	}
	k := int64(p.k)
	if p.sched == schedList {
		k = int64(len(r.list))
	}
	for r.stop.Load() == stopNone {
		ci := r.next.Load()
		if ci >= k {
			break
		}
		if rec != nil {
			rec.claim(ci)
		}
		if !r.next.CompareAndSwap(ci, ci+1) {
			continue
		}
		var lo, hi, idx int
		if p.sched == schedList {
			e := r.list[ci]
			lo, hi, idx = int(e.lo), int(e.hi), int(e.idx)
		} else {
			lo, hi = p.chunk(int(ci), r.guided)
			idx = int(ci)
		}
		if rec != nil {
			rec.running(int64(lo), int64(hi))
		}
		if !r.runChunk(c, idx, lo, hi) {
			break
		}
		if rec != nil {
			rec.idle()
		}
	}
	if rec != nil {
		rec.idle()
	}
}

// runChunk runs the kernel over [lo, hi), stores its partial at idx, and
// reports whether it succeeded (a failure has been recorded otherwise).
func (r *runner) runChunk(c *Ctx, idx, lo, hi int) (ok bool) {
	defer func() {
		if e := recover(); e != nil {
			r.fail(c.worker, lo, hi, &PanicError{Value: fmt.Sprint(e)}, string(debug.Stack()))
			ok = false
		}
	}()
	bits, err := r.k.call(c, r.args, lo, hi)
	if err != nil {
		r.fail(c.worker, lo, hi, err, "")
		return false
	}
	if r.partials != nil {
		r.partials[idx] = bits
	}
	return true
}
