package engine

import "time"

// Polls before a waiter starts yielding the CPU between polls. A worker
// waiting for a job yields almost at once: on an oversubscribed machine the
// coordinator may need its CPU to dispatch. The coordinator waiting for a
// job to end polls longer first: a short job ends within microseconds.
var (
	workerPolls = 8
	coordPolls  = 2048
)

// workerHold is how long an idle worker process, once done spinning, sleeps
// without giving up its P (futex.WaitHeld) before it sleeps as an ordinary
// blocked thread. It covers the gaps of a program that alternates parallel
// loops with serial work. While it lasts, the worker's other goroutines
// (its lifeline watcher) run only when the runtime preempts the sleeper,
// every 10 ms.
const workerHold = time.Second

// spinUntil polls done until it returns true (then it returns true) or d
// has passed (false). After the first polls polls it calls sched_yield
// between polls: on a machine with more runnable threads than CPUs — a
// coordinator and two spinning workers on two cores — the thread being
// waited for gets the CPU at once instead of after a time slice, and on an
// idle CPU the yield returns in a fraction of a microsecond.
func spinUntil(d time.Duration, polls int, done func() bool) bool {
	return spinWatch(d, polls, done, nil)
}

// spinWatch is spinUntil that times each yield and reports it to c, if c
// is not nil.
func spinWatch(d time.Duration, polls int, done func() bool, c *crowding) bool {
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
		if c != nil {
			t0 := time.Now()
			osYield()
			t1 := time.Now()
			c.yielded(t1.Sub(t0), t1)
		} else {
			osYield()
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
