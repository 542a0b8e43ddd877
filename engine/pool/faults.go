package pool

import (
	"fmt"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// Faults: tasks over their timeout, canceled calls whose tasks still run,
// and the tasks a dead worker held.

// watched reports whether w runs a batch of a call with a timeout or of a
// canceled call: then the watchdog looks at it.
func watched(w *pworker) bool {
	for _, b := range w.flight {
		if b.c.timeout > 0 || b.c.dead {
			return true
		}
	}
	return false
}

// watch checks the task worker w runs against its timeout and, for a
// canceled call, the team's CancelGrace; it kills the worker when one is
// over, and returns how soon to look again (0: no need).
func (q *procPool) watch(w *pworker, now time.Time) time.Duration {
	cur := q.st.slots[w.idx].cur.Load()
	if cur != w.lastCur || w.curSince.IsZero() {
		w.lastCur, w.curSince = cur, now
		w.progress = now
	}
	cs, cj := unpackCur(cur)
	var fb *batch
	for _, f := range w.flight {
		if f.seq == cs {
			fb = f
			break
		}
	}
	// Look again soon while a timed or canceled call is in flight.
	var tick time.Duration
	for _, f := range w.flight {
		c := f.c
		if c.timeout > 0 {
			t := min(max(c.timeout/10, time.Millisecond), 50*time.Millisecond)
			if tick == 0 || t < tick {
				tick = t
			}
		}
		if c.dead {
			t := min(max(q.grace/10, time.Millisecond), 50*time.Millisecond)
			if tick == 0 || t < tick {
				tick = t
			}
		}
	}
	if w.kill != killNone {
		return tick
	}
	if fb == nil || cj >= fb.n() {
		// Between tasks, holding batches: no task of them runs, but the
		// Timeout covers every moment of a task's life on a worker, and
		// a worker that takes longer than it to start the next task or to
		// send its results (stopped, swapped out) is killed; the tasks it
		// holds go to the others, and none is blamed.
		var d time.Duration
		for _, f := range w.flight {
			if t := f.c.timeout; t > 0 && !f.c.dead && (d == 0 || t < d) {
				d = t
			}
		}
		if d > 0 && now.Sub(w.progress) > overtime(d) {
			w.kill, w.killCur = killTimeout, 0
			q.sup.Kill(w.idx, w.pid)
		}
		return tick
	}
	c := fb.c
	ran := now.Sub(w.curSince)
	switch {
	case c.dead && !c.cancelAt.IsZero() && now.Sub(c.cancelAt) > q.grace && ran > q.grace:
		w.kill, w.killCur = killCancel, cur
		q.sup.Kill(w.idx, w.pid)
	case !c.dead && c.timeout > 0 && ran > overtime(c.timeout):
		w.kill, w.killCur = killTimeout, cur
		q.sup.Kill(w.idx, w.pid)
	}
	return tick
}

// drainQueue empties a gone worker's task queue: what is left there was
// never taken.
func (q *procPool) drainQueue(i int) {
	t := q.tasks[i-q.first]
	for range 1 << 20 {
		if _, err := t.TryGet(); err != nil {
			return
		}
	}
}

// death handles the death of worker w: every result it sent has been
// handled (the death message comes behind them).
func (q *procPool) death(w *pworker) {
	q.recoverStaged(w)
	w.live = false
	delete(q.ran, w.pid)
	q.drainQueue(w.idx)
	q.lose(w, false)
	q.drain()
}

// recoverStaged delivers the results that worker w (dead, or gone from its
// session) staged and did not send: the tasks it finished survive it.
func (q *procPool) recoverStaged(w *pworker) {
	if len(w.flight) == 0 {
		return
	}
	ctl, msg, errs := q.st.stage(w.idx)
	b := w.flight[0]
	c := b.c
	n, pb, eb := int(ctl.count), int(ctl.pbytes), int(ctl.ebytes)
	if ctl.seq != b.seq || int(ctl.off) != b.got || n == 0 || ctl.flags&sfNoJournal != 0 {
		return // nothing staged for its batch (what was, was sent)
	}
	if b.got+n > b.n() || pb > len(msg)-poolHdr-8 || eb > len(errs) {
		return // damaged: its tasks are accounted for as lost
	}
	wes, err := parseWireErrs(errs[:eb], int(ctl.nerr))
	if err != nil {
		return
	}
	lo := b.got
	if !c.dead {
		si, _ := b.span()
		if c.f.ops.decodeJournal(msg[poolHdr:poolHdr+pb], b.st.outs, si+lo, n) != nil {
			return
		}
	}
	b.got += n
	if b.got >= b.n() {
		w.flight = w.flight[1:]
	}
	if c.dead {
		return
	}
	var tes []*TaskError
	for _, e := range wes {
		if int(e.idx) >= lo && int(e.idx) < lo+n {
			tes = append(tes, q.taskError(b, w, e))
		}
	}
	q.deliver(b, lo, lo+n, tes, 0)
}

// lose accounts for the batches worker w held when it died (alive: when it
// left the session with batches in flight). Its progress word says which
// task it was running: the tasks before it ran but their results are lost,
// the one it ran may be what killed it, and those after never started.
func (q *procPool) lose(w *pworker, alive bool) {
	cur := q.st.slots[w.idx].cur.Load()
	cs, cj := unpackCur(cur)
	how, sig, out := "left the pool session", syscall.Signal(0), ""
	if !alive {
		how, sig, out = q.sup.ExitInfo(w.idx, w.pid)
		if s, ok := q.stall.stalled(w.pid); ok {
			how = s
		}
	}
	var front []*batch
	for _, b := range w.flight {
		fb := b
		if b.c.dead {
			continue
		}
		n := b.n()
		if cur == 0 || fb.seq > cs {
			front = append(front, b.sub(fb.got, n)) // never started
			continue
		}
		ran, running := n, -1
		if fb.seq == cs && cj < n {
			ran, running = cj, cj
		}
		lo := fb.got
		if ran > lo {
			front = q.lost(front, b, lo, ran, w, sig, out, func(int) error {
				return fmt.Errorf("%w: the task ran, but its worker process (pid %d) %s before sending its result", engine.ErrWorkerDied, w.pid, how)
			})
		}
		rest := max(ran, lo)
		if running >= lo && running >= 0 {
			rest = running + 1
			if w.kill == killTimeout && w.killCur == packCur(fb.seq, running) {
				q.failTasks(b, running, running+1, w.idx, w.pid, func(int) error {
					return fmt.Errorf("%w: it ran longer than %v; its worker process (pid %d) was killed", ErrTaskTimeout, b.c.timeout, w.pid)
				})
			} else {
				front = q.lost(front, b, running, running+1, w, sig, out, func(int) error {
					return fmt.Errorf("%w: its worker process (pid %d) %s while running it", engine.ErrWorkerDied, w.pid, how)
				})
			}
		}
		if rest < n {
			front = append(front, b.sub(rest, n))
		}
	}
	w.flight = nil
	q.pushFront(front...)
}

// lost handles tasks [i, j) of b that a dead worker held: run again if the
// function is idempotent and the tasks have not been through too many
// deaths, failed otherwise.
func (q *procPool) lost(front []*batch, b *batch, i, j int, w *pworker, sig syscall.Signal, out string, errf func(int) error) []*batch {
	if b.c.f.idempotent && b.tries+1 < poolMaxTries {
		s := b.sub(i, j)
		s.tries++
		return append(front, s)
	}
	note := ""
	if b.c.f.idempotent {
		note = fmt.Sprintf(" (worker processes died %d times running it)", b.tries+1)
	}
	if b.c.dead {
		return front
	}
	errs := make([]*TaskError, 0, j-i)
	for k := i; k < j; k++ {
		err := errf(k)
		if note != "" {
			err = fmt.Errorf("%w%s", err, note)
		}
		errs = append(errs, &TaskError{Func: b.c.f.name, Index: b.lo + k, Worker: w.idx, Failure: engine.Failure{PID: w.pid, Err: err, Signal: sig, Output: out}})
	}
	q.deliver(b, i, j, errs, 0)
	return front
}

// absent kills the worker processes that hold up the tasks of a call with
// a Timeout by being absent from the session: pending tasks run only on
// workers that said hello, and, once the session drains, only in the next
// session, which starts when every worker has left this one. A worker that
// has not said hello within the Timeout of the session's start, or that
// holds no task and has not left within the Timeout of the drain, is
// stopped or starved (a live worker does either in microseconds); it is
// killed and, holding no task, blames none, and the session ends without
// it (the next one replaces it). Workers holding tasks are watch's. absent
// returns when to look again (zero: no timed task waits).
func (q *procPool) absent(now time.Time) time.Time {
	var d time.Duration
	for _, b := range q.pending {
		if t := b.c.timeout; t > 0 && !b.c.dead && (d == 0 || t < d) {
			d = t
		}
	}
	if d == 0 {
		return time.Time{}
	}
	var next time.Time
	pids := q.team.PIDs()
	for i := q.first; i < q.parts; i++ {
		if q.st.slots[i].finished.Load() == q.session {
			continue // left
		}
		w := q.ws[i]
		var since time.Time
		switch {
		case w == nil:
			since = q.sessAt // no hello yet
		case !w.live || w.kill != killNone || len(w.flight) > 0:
			continue
		case q.sstate == sessDraining:
			since = q.drainAt
		default:
			continue // idle in a running session: it gets the tasks
		}
		at := since.Add(overtime(d))
		if now.Before(at) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		pid := 0
		if w != nil {
			pid = w.pid
			w.kill, w.killCur = killTimeout, 0
		} else if i < len(pids) {
			pid = pids[i]
		}
		if pid <= 0 || q.absentKill[pid] {
			continue
		}
		if q.absentKill == nil {
			q.absentKill = map[int]bool{}
		}
		q.absentKill[pid] = true
		q.sup.Kill(i, pid)
	}
	return next
}
