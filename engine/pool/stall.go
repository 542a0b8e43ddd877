package pool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Stalls: a worker process that is stopped (SIGSTOP, a job-control stop)
// makes no progress and does not die, so nothing else would free the tasks
// it holds. While the pool has work on its workers, a watch looks at their
// state every quarter of the stall limit and kills one that has stayed
// stopped for the limit; its tasks are then handled as after any death.

// DefaultStallLimit is the stall limit of a pool when neither StallLimit
// nor its team's engine.StallLimit gives one: a minute, the team's
// default too.
const DefaultStallLimit = time.Minute

// StallLimit sets how long a worker process may stay stopped — by
// SIGSTOP or another job-control stop (state T in /proc/PID/stat), not by a
// debugger — while the pool has work on its workers, before the pool kills
// it and handles its tasks as after any death: the task it was running
// fails with engine.ErrWorkerDied (or runs again if the function is
// Idempotent), and the others run on. So no call waits on a stopped worker,
// with or without a Timeout. A worker that is running, however long its
// task takes, is never stalled (Timeout bounds that). d = 0, the default,
// takes the team's engine.StallLimit, the knob of a For's stall
// watch (none if the team has none), or else DefaultStallLimit; d < 0
// turns the watch off. The watch looks every
// quarter of the limit, and only while the pool has work on its workers; a
// pause of the coordinator itself (Ctrl-Z of the whole program) starts its
// count again. On a goroutine team, and on platforms without /proc, it
// does nothing.
func StallLimit(d time.Duration) Option { return func(c *config) { c.stall = d } }

// stallWatch watches a process pool's worker processes for stalls.
type stallWatch struct {
	q      *procPool
	limit  time.Duration
	tick   time.Duration
	wake   chan struct{}
	parked atomic.Bool

	mu     sync.Mutex
	killed map[int]bool // pids killed for a stall
}

func newStallWatch(q *procPool, limit time.Duration) *stallWatch {
	return &stallWatch{q: q, limit: limit, tick: max(limit/4, time.Millisecond), wake: make(chan struct{}, 1), killed: map[int]bool{}}
}

// poke wakes the watch if it is parked (the pool was idle).
func (s *stallWatch) poke() {
	if s != nil && s.parked.Load() {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// busy reports that the pool has work on its workers.
func (s *stallWatch) busy() bool { return s.q.sessLive.Load() || s.q.dir.active.Load() > 0 }

// stalled reports whether pid was killed for a stall, and how to say so.
func (s *stallWatch) stalled(pid int) (string, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.killed[pid] {
		return "", false
	}
	return fmt.Sprintf("was stopped for longer than the pool's stall limit (%v) and was killed", s.limit), true
}

// run watches until the pool's life ends. It parks after a few idle ticks.
func (s *stallWatch) run() {
	q := s.q
	defer q.helpers.Done()
	since := map[int]time.Time{} // pid → first seen stopped
	var last time.Time
	idle := 0
	timer := time.NewTimer(s.tick)
	defer timer.Stop()
	for {
		if s.busy() {
			idle = 0
		} else if idle++; idle > 4 {
			s.parked.Store(true)
			if !s.busy() {
				select {
				case <-s.wake:
				case <-q.life.Done():
					return
				}
			}
			s.parked.Store(false)
			idle, last = 0, time.Time{}
			clear(since)
		}
		timer.Reset(s.tick)
		select {
		case <-timer.C:
		case <-q.life.Done():
			return
		}
		now := time.Now()
		if !last.IsZero() && now.Sub(last) > 2*s.tick+50*time.Millisecond {
			// This process did not run for a while (stopped with its
			// workers, by a shell's Ctrl-Z): what it saw before says
			// nothing about now.
			clear(since)
		}
		last = now
		if !s.busy() {
			continue
		}
		seen := map[int]bool{}
		for i, pid := range q.team.PIDs() {
			if i < q.first || pid <= 0 {
				continue
			}
			seen[pid] = true
			if !processStopped(pid) {
				delete(since, pid)
				continue
			}
			t0, ok := since[pid]
			if !ok {
				since[pid] = now
				continue
			}
			if now.Sub(t0) >= s.limit {
				s.mu.Lock()
				s.killed[pid] = true
				s.mu.Unlock()
				q.sup.Kill(i, pid)
				delete(since, pid)
			}
		}
		for pid := range since {
			if !seen[pid] {
				delete(since, pid)
			}
		}
	}
}

// stallLimitOf returns a pool's stall limit: the option's, else the team's
// (a team's supervision view that reports one: ≤ 0 means none), else
// DefaultStallLimit. ≤ 0: no watch.
func stallLimitOf(opt time.Duration, sup any) time.Duration {
	switch {
	case opt < 0:
		return 0
	case opt > 0:
		return opt
	}
	if t, ok := sup.(interface{ StallLimit() time.Duration }); ok {
		return t.StallLimit()
	}
	return DefaultStallLimit
}
