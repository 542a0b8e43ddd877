package spin

import "time"

// Polls before a waiter starts yielding the CPU between polls. A worker
// waiting for a job yields almost at once: on an oversubscribed machine the
// coordinator may need its CPU to dispatch. The coordinator waiting for a
// job to end polls longer first: a short job ends within microseconds.
const (
	WorkerPolls = 8
	CoordPolls  = 2048
)

// Watcher is told how long each yield of Watch took and when it returned.
type Watcher interface {
	Yielded(d time.Duration, now time.Time)
}

// Until polls done until it returns true (then Until returns true) or d
// has passed (false). After the first polls polls it calls sched_yield
// between polls: on a machine with more runnable threads than CPUs — a
// coordinator and two spinning workers on two cores — the thread being
// waited for gets the CPU at once instead of after a time slice, and on an
// idle CPU the yield returns in a fraction of a microsecond. d ≤ 0 polls
// once.
func Until(d time.Duration, polls int, done func() bool) bool {
	return Watch(d, polls, done, nil)
}

// Watch is Until that times each yield and reports it to w, if w is not
// nil.
func Watch(d time.Duration, polls int, done func() bool, w Watcher) bool {
	if d <= 0 {
		return done()
	}
	var start time.Time
	for i := 0; ; i++ {
		if done() {
			return true
		}
		if i < polls {
			continue
		}
		if w != nil {
			t0 := time.Now()
			Yield()
			t1 := time.Now()
			w.Yielded(t1.Sub(t0), t1)
		} else {
			Yield()
		}
		if i&15 == 0 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > d {
				return false
			}
		}
	}
}
