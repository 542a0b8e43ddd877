package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/engine/internal/supervise"
	"github.com/shmpar/shmpar/internal/futex"
)

// The end of a job: waiting for its chunks, closing claims when it stops or
// a worker dies, and turning the end state into the job's result — or into
// the steps that finish the chunks dead workers left.

// wait waits for generation g to end: all its chunks done, or it stopped
// (a failure, ctx), or a worker died and the survivors have claimed all
// there was. In the last two cases it closes claiming and waits until no
// live worker is inside the job (after ctx ended, for at most CancelGrace;
// then it kills those workers). While it sleeps it kills the workers that
// stall past limit (see watchStalls). It returns the chunk index at which
// claiming was closed, -1 if every chunk was done.
func (t *procTeam) wait(g uint32, p *plan, seen uint64, limit time.Duration) int64 {
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
			t.watchStalls(g, p, limit)
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
		t.watchStalls(g, p, limit)
	}
	return closeIdx
}

// stallKill records a worker process the stall watch killed: how long it
// had gone without progress and its last scheduling state.
type stallKill struct {
	pid   int
	idle  time.Duration
	state byte
}

// stallLook is how often (at most) the stall watch looks at the workers
// while the coordinator waits.
const stallLook = 50 * time.Millisecond

// watchStalls applies the stall rule (supervise.Watch) to the worker
// processes of job g, and kills those that have gone without progress for
// limit while the job needs them: they hold one of its chunks (are inside
// it), or have not joined it while chunks nobody claimed remain. Their
// deaths are then handled like any other (outcome). It is called only
// while the coordinator sleeps for the job's end, so a job that ends while
// the coordinator spins never pays for it; the first call of a job starts
// the watches.
func (t *procTeam) watchStalls(g uint32, p *plan, limit time.Duration) {
	if limit <= 0 {
		return
	}
	now := time.Now()
	first := t.stallGen != g
	if !first && now.Sub(t.stallAt) < min(stallLook, limit/4) {
		return
	}
	t.stallGen, t.stallAt = g, now
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		if w == nil || w.exited() {
			continue
		}
		s := &t.c.slots[i]
		sig := [4]uint64{uint64(s.inJob.Load()), uint64(s.chunkGen.Load()), uint64(s.chunk.Load()), uint64(s.beat.Load())}
		st := &t.stall[i]
		if first || st.PID() != w.pid {
			st.Start(w.pid, sig, now)
			continue
		}
		idle, stalled := st.Stalled(sig, now, limit)
		if !stalled {
			continue
		}
		if s.inJob.Load() != g && (t.exhausted(g, p) || t.h.stop.Load() != stopNone) {
			continue // the job does not wait for it
		}
		t.stalled[i] = stallKill{pid: w.pid, idle: idle, state: st.State()}
		_ = w.cmd.Process.Kill()
		st.Start(0, sig, now) // killed once; its death ends the wait
	}
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

// recovery is what a job remembers of the workers that died under it: the
// chunks lost with them (run on a dead worker and not run again), how often
// each chunk was re-run after a death, and how many recoveries in a row
// finished no chunk. A job that no worker died under has none (nil).
type recovery struct {
	lost   []error       // one *WorkerError per lost chunk, in the order found
	reruns map[int64]int // chunk start → times re-run after its worker died
	barren int           // recoveries in a row that finished no chunk
}

// join returns err together with the lost chunks: err alone when none was
// lost, the one *WorkerError when err is nil and one chunk was lost, and
// errors.Join of all of them otherwise (err first).
func (r *recovery) join(err error) error {
	if r == nil || len(r.lost) == 0 {
		return err
	}
	if err == nil && len(r.lost) == 1 {
		return r.lost[0]
	}
	all := make([]error, 0, len(r.lost)+1)
	if err != nil {
		all = append(all, err)
	}
	return errors.Join(append(all, r.lost...)...)
}

// outcome turns the end state of generation g, which ran plan p from chunk
// from on, into the job's result, or into the steps that finish it after
// workers died. Every chunk that was running on a dead worker is re-run if
// the kernel is idempotent (once: a chunk whose worker dies again is lost),
// and lost otherwise, recorded in *rec for the job's error; every chunk
// nobody claimed is run by the steps returned, so that the job's error
// names exactly the chunks that may be partly done.
func (t *procTeam) outcome(ctx context.Context, j *job, p *plan, g uint32, from, closeIdx int64, rec **recovery) ([]step, error) {
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
	if *rec == nil {
		*rec = &recovery{}
	}
	r := *rec
	if t.doneIn(from) > uint64(from) {
		r.barren = 0
	} else {
		r.barren++
	}
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
	// claimed reports whether chunk ci was claimed in g: a participant
	// records a chunk before its claim succeeds, so a dead worker's record
	// may name a chunk it never got, which the steps below run.
	claimed := func(ci int64) bool {
		if p.sched == schedStatic {
			return t.c.slots[ci].block.Load() == g
		}
		return ci < closeIdx
	}
	var list []listEntry
	lostBefore := len(r.lost)
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		s := &t.c.slots[i]
		ci := s.chunk.Load()
		if !w.exited() || s.chunkGen.Load() != g || ci < 0 || ci >= int64(p.k) || !claimed(ci) {
			continue
		}
		e := entry(ci)
		if j.k.idempotent && r.reruns[e.lo] == 0 {
			if r.reruns == nil {
				r.reruns = map[int64]int{}
			}
			r.reruns[e.lo]++
			list = append(list, e)
			continue
		}
		how, sig := w.describe()
		why := "the kernel is not registered as Idempotent, so the chunk was not run again"
		if j.k.idempotent {
			why = "it had been run again after another worker died running it, and is not run a third time"
		}
		err := fmt.Errorf("%w: it %s while running the chunk; %s", ErrWorkerDied, how, why)
		if sk := t.stalled[i]; sk.pid == w.pid {
			err = fmt.Errorf("%w: it made no progress for %v while %s, so it was killed (%w); %s",
				ErrStalled, sk.idle.Round(time.Millisecond), supervise.DescribeState(sk.state), ErrWorkerDied, why)
		}
		r.lost = append(r.lost, &WorkerError{
			Kernel:  j.k.name,
			Worker:  i,
			Lo:      int(e.lo),
			Hi:      int(e.hi),
			Failure: Failure{PID: w.pid, Signal: sig, Output: w.tail.String(), Err: err},
		})
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
	if len(steps) == 0 && t.doneIn(from)+uint64(len(r.lost)-lostBefore) < uint64(p.k) {
		// Every chunk was claimed, and the chunks dead workers held do not
		// account for those not done. Participants record a chunk before
		// they claim it, so this cannot happen; should it, say so rather
		// than return as if the work were done.
		return nil, fmt.Errorf("engine: kernel %q: %w: %d of %d chunks done and none to re-run", j.k.name, ErrWorkerDied, t.doneIn(from), p.k)
	}
	return steps, nil
}

// doneIn returns the index up to which a step that started at chunk from
// has counted chunks done, once no live worker is inside its generation:
// from, plus the chunks worker processes counted on the done line since
// the post, plus the coordinator's own (Primary).
func (t *procTeam) doneIn(from int64) uint64 {
	return uint64(from) + (t.h.done.Load() - t.postBase) + t.own.Load()
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
