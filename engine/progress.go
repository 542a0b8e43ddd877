package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Progress is told how far a long call has come: done units of total
// (tasks, for a pool's Map; chunks, for For, Reduce and Partials with
// ReportProgress). Whatever takes one calls it from one goroutine at a time
// — with (0, total) when the call starts, then at most every few hundred
// milliseconds while done changes, and once when the call ends — so it may
// draw a bar or log a line, but must return quickly. It is the type the
// packages built on the team share for progress (ReportProgress here,
// package engine/pool's Progress option and ProgressBar), so one callback
// serves both.
type Progress func(done, total int)

// ProgressInterval is how often, at most, a For, Reduce or Partials with
// ReportProgress reports while it runs.
const ProgressInterval = 200 * time.Millisecond

// progressEvery is ProgressInterval, shortened by tests (in nanoseconds).
var progressEvery atomic.Int64

func init() { progressEvery.Store(int64(ProgressInterval)) }

// ReportProgress makes For, Reduce and Partials report their progress to
// fn, in chunks of the job's schedule (Static: one per participant, so ask
// for Dynamic or Deterministic chunks to see a long job move): fn(0, k)
// when the job starts, fn(done, k) at most every ProgressInterval while the
// number of chunks finished changes, and fn(done, k) once more before the
// call returns — (k, k) when every chunk ran. done never goes back. The
// first and last calls run on the goroutine that called For, those in
// between on a timer's goroutine; each call returns before the next
// starts, and none comes after For returns. A job of no chunks calls it
// never.
//
// What it costs: the chunk counters the team keeps anyway are read by a
// timer every ProgressInterval, so a chunk costs nothing more; a call
// costs a timer and a few small allocations (about a microsecond). A call
// without the option pays nothing for it.
//
// Chunks a dead worker was running and that were run again count once;
// chunks lost with a dead worker (see WorkerError) do not count, so a
// call that fails may end below k.
func ReportProgress(fn Progress) Option {
	return func(p *plan) { p.progress = fn }
}

// progressRun reports a job's progress: a timer reads the chunks finished
// (base, for the steps and rounds over, plus what live says of the one
// running) every ProgressInterval, re-armed after each look (so reports
// are at least that far apart). No goroutine runs for a job shorter than
// that.
type progressRun struct {
	fn    Progress
	total int
	base  atomic.Int64 // chunks finished in steps that are over
	live  atomic.Pointer[func() int]

	mu      sync.Mutex // held while reporting: fn never runs twice at once
	t       *time.Timer
	last    int
	stopped bool
}

// startProgress reports (0, total) and starts the reports; nil when fn is.
func startProgress(fn Progress, total int) *progressRun {
	if fn == nil {
		return nil
	}
	r := &progressRun{fn: fn, total: total}
	fn(0, total)
	r.mu.Lock()
	r.t = time.AfterFunc(time.Duration(progressEvery.Load()), r.tick)
	r.mu.Unlock()
	return r
}

// done returns the chunks finished, never fewer than last reported (a step
// moves its count from live to base in two stores) nor more than total.
// The caller holds r.mu.
func (r *progressRun) done() int {
	d := int(r.base.Load())
	if f := r.live.Load(); f != nil {
		d += (*f)()
	}
	return max(r.last, min(d, r.total))
}

func (r *progressRun) tick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if d := r.done(); d != r.last {
		r.last = d
		r.fn(d, r.total)
	}
	r.t.Reset(time.Duration(progressEvery.Load()))
}

// stepStarted makes f the count of chunks finished in the step that is
// running; r may be nil.
func (r *progressRun) stepStarted(f func() int) {
	if r != nil {
		r.live.Store(&f)
	}
}

// stepOver counts the n chunks finished in the step that ended; r may be
// nil.
func (r *progressRun) stepOver(n int) {
	if r != nil {
		r.live.Store(nil)
		r.base.Add(int64(n))
	}
}

// end stops the reports and makes the last one; r may be nil.
func (r *progressRun) end() {
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
