package progress

import (
	"sync"
	"sync/atomic"
	"time"
)

// Run reports a job's progress: a timer reads the chunks finished (base,
// for the steps and rounds over, plus what live says of the one running)
// every interval, re-armed after each look (so reports are at least that
// far apart). No goroutine runs for a job shorter than that.
type Run struct {
	fn    func(done, total int)
	total int
	every time.Duration
	base  atomic.Int64 // chunks finished in steps that are over
	live  atomic.Pointer[func() int]

	mu      sync.Mutex // held while reporting: fn never runs twice at once
	t       *time.Timer
	last    int
	stopped bool
}

// Start reports (0, total) and starts the reports, every interval; nil
// when fn is.
func Start(fn func(done, total int), total int, every time.Duration) *Run {
	if fn == nil {
		return nil
	}
	r := &Run{fn: fn, total: total, every: every}
	fn(0, total)
	r.mu.Lock()
	r.t = time.AfterFunc(r.every, r.tick)
	r.mu.Unlock()
	return r
}

// done returns the chunks finished, never fewer than last reported (a step
// moves its count from live to base in two stores) nor more than total.
// The caller holds r.mu.
func (r *Run) done() int {
	d := int(r.base.Load())
	if f := r.live.Load(); f != nil {
		d += (*f)()
	}
	return max(r.last, min(d, r.total))
}

func (r *Run) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if d := r.done(); d != r.last {
		r.last = d
		r.fn(d, r.total)
	}
	r.t.Reset(r.every)
}

// StepStarted makes f the count of chunks finished in the step that is
// running; r may be nil.
func (r *Run) StepStarted(f func() int) {
	if r != nil {
		r.live.Store(&f)
	}
}

// StepOver counts the n chunks finished in the step that ended; r may be
// nil.
func (r *Run) StepOver(n int) {
	if r != nil {
		r.live.Store(nil)
		r.base.Add(int64(n))
	}
}

// Add counts n more chunks finished outside any step (a pool counts the
// tasks whose results came back); r may be nil.
func (r *Run) Add(n int) {
	if r != nil {
		r.base.Add(int64(n))
	}
}

// End stops the reports and makes the last one; r may be nil.
func (r *Run) End() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.t.Stop()
	r.last = r.done()
	r.fn(r.last, r.total)
}
