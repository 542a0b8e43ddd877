package engine

import (
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

// progressEvery is ProgressInterval, shortened by tests (in nanoseconds);
// a call reads it when it starts.
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
