package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// Sessions: a pool runs as one For of the server kernel on the team, from
// its first call until it has been idle for Linger. The dispatcher starts
// and ends sessions and learns each worker's pid from its hello.

func (q *procPool) startSession() {
	q.session++
	q.sstate = sessRunning
	q.sessLive.Store(true)
	q.stall.poke()
	q.sessOver = make(chan struct{})
	q.canceledS = false
	q.useful = false
	q.idleSince = time.Time{}
	q.sessAt, q.drainAt = time.Now(), time.Time{}
	clear(q.absentKill)
	clear(q.ws)
	q.watched = nil
	ctx, cancel := context.WithCancel(context.Background())
	q.sessCancel = cancel
	args := poolArgs{
		Pool: q.id, Session: q.session, Coord: os.Getpid(), First: q.first,
		Tasks: q.tasks, Results: q.res, State: q.st, Spin: q.spin,
	}
	s := q.session
	q.helpers.Add(1)
	go func() {
		defer q.helpers.Done()
		err := server.For(ctx, q.team, q.parts, args, engine.Static())
		cancel()
		q.endMu.Lock()
		q.endErr[s] = err
		q.endMu.Unlock()
		q.putResult(ctlMsg(rmEnd, 0, s, 0), true)
	}()
}

// drain ends the session: every worker gets a stop message behind its
// queued batches.
func (q *procPool) drain() {
	if q.sstate != sessRunning {
		return
	}
	q.sstate = sessDraining
	q.drainAt = time.Now()
	for _, w := range q.ws {
		if w != nil && w.live {
			q.sendStop(w)
		}
	}
}

func (q *procPool) sendStop(w *pworker) {
	b := make([]byte, poolHdr)
	h := taskHdr{kind: tmStop, session: q.session}
	h.put(b)
	if q.putTask(w.idx, b) == nil {
		w.stopped = true
	}
}

func (q *procPool) endSession() {
	q.endMu.Lock()
	err := q.endErr[q.session]
	delete(q.endErr, q.session)
	q.endMu.Unlock()
	close(q.sessOver)
	for _, w := range q.ws {
		if w == nil || !w.live {
			continue
		}
		select {
		case <-w.exit:
			q.death(w)
		default:
			if len(w.flight) > 0 {
				// The job stopped under the worker (the pool is
				// closing, or another participant failed).
				q.recoverStaged(w)
				w.live = false
				q.drainQueue(w.idx)
				q.lose(w, true)
			}
		}
	}
	clear(q.ws)
	q.sstate = sessIdle
	q.sessLive.Store(false)
	q.tellYielders(len(q.pending) == 0)
	q.sessCancel = nil
	if err == nil {
		q.failStreak = 0
		return
	}
	switch {
	case q.useful:
		q.failStreak = 0
	case errors.Is(err, engine.ErrWorkerDied):
		// Deaths are accounted for task by task.
	default:
		q.failStreak++
	}
	if q.failStreak >= 3 || errors.Is(err, engine.ErrClosed) {
		q.failStreak = 0
		q.failAll(fmt.Errorf("pool: the workers could not run: %w", err))
	}
}

func (q *procPool) hello(h *resHdr) {
	i, pid := int(h.worker), int(h.seq)
	if h.session != q.session || q.sstate == sessIdle || i < q.first || i >= q.parts {
		return
	}
	if old := q.ws[i]; old != nil && (old.live || old.pid == pid) {
		return
	}
	// A first hello in slot i, or a replacement's after the worker there
	// died in this session: the team re-runs the session's blocks that
	// nobody had claimed on the worker processes it started in place of
	// the dead, and a block runs as the participant that claims it, so a
	// replacement can join a session in a dead worker's slot. It must be
	// served (told to stop, as the session is draining after the death),
	// or the session never ends.
	if q.watched == nil {
		q.watchAll()
	}
	w := &pworker{idx: i, pid: pid, live: true, tasksSent: q.ran[pid]}
	q.ws[i] = w
	w.exit = q.sup.Exited(i, pid)
	if w.exit == nil {
		// Not the team's worker in that slot any more: it is gone.
		w.live = false
		q.drain()
		return
	}
	if q.watched[i] != pid {
		q.watched[i] = pid
		q.helpers.Add(1)
		go q.watchExit(i, pid, q.session, w.exit, q.sessOver)
	}
	if q.sstate == sessDraining {
		q.sendStop(w)
	}
}

// watchAll starts watching every worker process of the team when the
// first worker of a session says hello (the team has replaced its dead
// workers by then): one that dies before its own hello would otherwise
// go unnoticed until the session ends, and the session would go on short
// of a worker.
func (q *procPool) watchAll() {
	q.watched = make([]int, q.parts)
	for i, pid := range q.team.PIDs() {
		if i < q.first {
			continue
		}
		exit := q.sup.Exited(i, pid)
		if pid == 0 || exit == nil {
			q.drain() // already gone: start again on a full team
			continue
		}
		q.watched[i] = pid
		q.helpers.Add(1)
		go q.watchExit(i, pid, q.session, exit, q.sessOver)
	}
}

// watchExit reports a worker's death through the result queue, behind
// every result it sent.
func (q *procPool) watchExit(i, pid int, session uint64, exit, over <-chan struct{}) {
	defer q.helpers.Done()
	select {
	case <-exit:
		q.putResult(ctlMsg(rmDeath, i, session, uint64(pid)), true)
	case <-over:
	case <-q.life.Done(): // the dispatcher stopped without ending the session
	}
}
