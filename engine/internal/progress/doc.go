// Package progress is the timer behind engine.ReportProgress and
// pool.Progress: it reports
// how many chunks of a job have finished to a callback, at a fixed
// interval and only when the count changed, while the team runs the job
// in steps (a For is one step; a Reduce or Partials with more chunks than
// its partials area holds is several, and a dead worker's chunks run again
// in another).
//
// The count comes from the counters the team keeps anyway: a function the
// running step sets (StepStarted) plus what the steps that are over
// finished (StepOver); a pool, whose units are tasks, also counts the
// results that come back outside any step (Add). The callback runs on one goroutine at a time, never
// after End returns, and never sees the count go back or past the total.
// A Run is safe for concurrent use; a nil *Run is a job without
// ReportProgress, and its methods do nothing.
//
// It imports only the standard library.
package progress
