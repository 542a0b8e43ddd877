package engine

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/internal/futex"
)

// The end of a job: waiting for its chunks, closing claims when it stops or
// a worker dies, and turning the end state into the job's result — or into
// the steps that finish the chunks dead workers left.

// wait waits for generation g to end: all its chunks done, or it stopped
// (a failure, ctx), or a worker died and the survivors have claimed all
// there was. In the last two cases it closes claiming and waits until no
// live worker is inside the job (after ctx ended, for at most CancelGrace;
// then it kills those workers). It returns the chunk index at which
// claiming was closed, -1 if every chunk was done.
func (t *procTeam) wait(g uint32, p *plan, seen uint64) int64 {
	h := t.h
	end := t.doneEnd
	died := false
	over := func() bool {
		if h.done.Load() == end || h.stop.Load() != stopNone {
			return true
		}
		if dz := t.deaths.Load(); dz != seen {
			seen, died = dz, true
		}
		return died && (t.live() == 0 || t.exhausted(g, p))
	}
	if !spin.Until(t.cfg.Spin, spin.CoordPolls, over) {
		for !over() {
			// Mark, then look, then sleep: a worker that counts a chunk
			// after the look sees the mark when it leaves the job, and
			// bumps notify (worker.serve).
			v := h.notify.Load()
			h.coordSleeping.Store(1)
			if over() {
				h.coordSleeping.Store(0)
				break
			}
			t.sleeps.Add(1)
			err := futex.Wait((*uint32)(unsafe.Pointer(&h.notify)), v, 50*time.Millisecond)
			h.coordSleeping.Store(0)
			if err == futex.ErrTimeout && over() {
				t.lateWakes.Add(1) // nobody woke us: a lost wake-up, or a worker stalled for 50 ms
			}
			if err != nil && t.live() < t.parts-t.first {
				died = true // belt and braces: a death seen only by its exit
			}
		}
	}
	if h.done.Load() == end {
		return -1
	}
	closeIdx := t.closeClaims(g)
	var graceEnd time.Time
	for t.inJob(g) > 0 {
		if s := h.stop.Load(); s == stopCanceled || s == stopDeadline {
			now := time.Now()
			if graceEnd.IsZero() {
				graceEnd = now.Add(t.cfg.CancelGrace)
			} else if now.After(graceEnd) {
				t.killInJob(g)
				graceEnd = now.Add(time.Hour) // kill once; their deaths end the wait
			}
		}
		v := h.notify.Load()
		if t.inJob(g) == 0 {
			break
		}
		h.coordSleeping.Store(1)
		_ = futex.Wait((*uint32)(unsafe.Pointer(&h.notify)), v, time.Millisecond)
		h.coordSleeping.Store(0)
	}
	return closeIdx
}

// closeClaims ends claiming in generation g and returns the next chunk index
// at that moment.
func (t *procTeam) closeClaims(g uint32) int64 {
	for {
		w := t.h.claim.Load()
		if !sameGen(w, g) || claimIdx(w) == claimClosed {
			return claimIdx(w)
		}
		if t.h.claim.CompareAndSwap(w, packClaim(g, claimClosed)) {
			return claimIdx(w)
		}
	}
}

// exhausted reports whether every chunk of generation g has been claimed.
func (t *procTeam) exhausted(g uint32, p *plan) bool {
	if p.sched == schedStatic {
		for q := range p.k {
			if t.c.slots[q].block.Load() != g {
				return false
			}
		}
		return true
	}
	w := t.h.claim.Load()
	return !sameGen(w, g) || claimIdx(w) >= int64(p.k)
}

// live counts the worker processes that have not exited.
func (t *procTeam) live() int {
	n := 0
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() {
			n++
		}
	}
	return n
}

// inJob counts the live worker processes inside generation g.
func (t *procTeam) inJob(g uint32) int {
	n := 0
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].inJob.Load() == g {
			n++
		}
	}
	return n
}

func (t *procTeam) killInJob(g uint32) {
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].inJob.Load() == g {
			_ = w.cmd.Process.Kill()
		}
	}
}

// outcome turns the end state of generation g into the job's result, or
// into the steps that finish it after workers died.
func (t *procTeam) outcome(ctx context.Context, j *job, p *plan, g uint32, closeIdx int64) ([]step, error) {
	h := t.h
	if h.done.Load() == t.doneEnd {
		return nil, nil
	}
	switch stop := h.stop.Load(); stop {
	case stopFailed:
		return nil, t.failure(j, int(h.errOwner.Load()), g)
	case stopCanceled, stopDeadline:
		// Workers killed after the grace period are restarted by the next
		// job; what they left undone does not matter to a canceled job.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, stopErr(stop)
	}
	// Workers died. What they were running is lost; what nobody claimed
	// is still to do.
	entry := func(ci int64) listEntry {
		switch p.sched {
		case schedList:
			return t.c.list[ci]
		case schedGuided:
			lo, hi := p.chunk(int(ci), guidedStarts(p.hi-p.lo, p.parts, p.size))
			return listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
		}
		lo, hi := p.chunk(int(ci), nil)
		return listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
	}
	var list []listEntry
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		s := &t.c.slots[i]
		ci := s.chunk.Load()
		if !w.exited() || s.chunkGen.Load() != g || ci < 0 || ci >= int64(p.k) {
			continue
		}
		e := entry(ci)
		if !j.k.idempotent {
			how, sig := w.describe()
			return nil, &WorkerError{
				Kernel:  j.k.name,
				Worker:  i,
				Lo:      int(e.lo),
				Hi:      int(e.hi),
				Failure: Failure{PID: w.pid, Signal: sig, Output: w.tail.String(), Err: fmt.Errorf("%w: it %s while running the chunk; the kernel is not registered as Idempotent, so the chunk was not run again", ErrWorkerDied, how)},
			}
		}
		list = append(list, e)
	}
	var steps []step
	switch {
	case p.sched == schedStatic:
		for q := range p.k {
			if t.c.slots[q].block.Load() != g {
				list = append(list, entry(int64(q)))
			}
		}
	case closeIdx >= 0 && closeIdx < int64(p.k):
		if p.sched == schedList {
			list = append(list, t.c.list[closeIdx:p.k]...)
		} else {
			steps = append(steps, step{from: closeIdx})
		}
	}
	if len(list) > 0 {
		steps = append([]step{{list: list}}, steps...)
	}
	if len(steps) == 0 {
		// Every chunk was claimed and no dead worker held one, yet not all
		// are done: a worker died between its last claim and its report.
		done := int64(h.done.Load()-t.doneEnd) + int64(p.k) // doneEnd is where h.done stands when all k are
		return nil, fmt.Errorf("engine: kernel %q: %w: %d of %d chunks done and none to re-run", j.k.name, ErrWorkerDied, done, p.k)
	}
	return steps, nil
}

// failure builds the WorkerError of the first failed chunk, reported by
// participant owner.
func (t *procTeam) failure(j *job, owner int, g uint32) error {
	if owner == 0 && t.first == 1 {
		if t.primErr != nil {
			return t.primErr
		}
	}
	if owner < t.first || owner >= t.parts {
		return &WorkerError{Kernel: j.k.name, Worker: owner, Failure: Failure{Err: fmt.Errorf("job failed, but the failing worker index %d is out of range", owner)}}
	}
	w := t.procs[owner]
	if w.exited() && t.c.slots[owner].inJob.Load() == g {
		how, sig := w.describe()
		return &WorkerError{
			Kernel:  j.k.name,
			Worker:  owner,
			Failure: Failure{PID: w.pid, Signal: sig, Output: w.tail.String(), Err: fmt.Errorf("%w: it %s while reporting a failure", ErrWorkerDied, how)},
		}
	}
	kind, sentinel, lo, hi, msg, stack := t.c.readErr(owner)
	var err error
	switch kind {
	case errKindPanic:
		err = &PanicError{Value: msg}
	default:
		err = remote.New(msg, sentinel)
	}
	return &WorkerError{Kernel: j.k.name, Worker: owner, Lo: lo, Hi: hi, Failure: Failure{PID: w.pid, Err: err, Stack: stack}}
}
