package pool

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/shmpar/shmpar/engine"
)

// ProgressInterval is how often, at most, a call reports its progress.
const ProgressInterval = 200 * time.Millisecond

// Progress makes Map report its progress to fn (for joblib's verbose= and
// tqdm habits): fn(0, n) when it starts, fn(done, n) at most every
// ProgressInterval while the number of finished tasks (successful or
// failed) changes, and fn(done, n) once more before Map returns — (n, n)
// when every task ran. fn runs on a goroutine of its own, never two calls
// at once, and not after Map returns. A call without it pays nothing for
// it. Calls other than Map ignore it.
func Progress(fn engine.Progress) CallOption { return func(c *callConfig) { c.progress = fn } }

// ProgressBar returns a progress callback that draws a bar on w (standard
// error when w is nil) with github.com/schollz/progressbar: the tasks done,
// the rate and the time left, left on its line when the call ends. Pass it
// to Progress:
//
//	out, err := f.Map(ctx, p, inputs, pool.Progress(pool.ProgressBar(nil)))
//
// Each bar serves one call.
func ProgressBar(w io.Writer) engine.Progress {
	if w == nil {
		w = os.Stderr
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
		if bar == nil {
			bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("tasks"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(0),
				progressbar.OptionSetTheme(progressbar.ThemeASCII),
				progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(w, "\n") }),
			)
		}
		_ = bar.Set(done)
		if done >= total {
			_ = bar.Finish()
		}
	}
}

// progressRun reports a call's progress: a timer reads the tasks finished
// (finished, plus what live says of a direct call's round in progress)
// every ProgressInterval, re-armed after each look (so reports are at least
// that far apart). No goroutine runs for a call shorter than that.
type progressRun struct {
	fn       engine.Progress
	total    int
	finished atomic.Int64 // tasks finished and counted
	live     atomic.Pointer[func() int]

	mu      sync.Mutex // held while reporting: fn never runs twice at once
	t       *time.Timer
	last    int
	stopped bool
}

// startProgress reports (0, total) and starts the reports; nil when fn is.
func startProgress(fn engine.Progress, total int) *progressRun {
	if fn == nil {
		return nil
	}
	r := &progressRun{fn: fn, total: total}
	fn(0, total)
	r.mu.Lock()
	r.t = time.AfterFunc(ProgressInterval, r.tick)
	r.mu.Unlock()
	return r
}

func (r *progressRun) done() int {
	d := int(r.finished.Load())
	if f := r.live.Load(); f != nil {
		d += (*f)()
	}
	return min(d, r.total)
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
	r.t.Reset(ProgressInterval)
}

// add counts n more finished tasks.
func (r *progressRun) add(n int) {
	if r != nil {
		r.finished.Add(int64(n))
	}
}

// setLive sets (or, with nil, clears) the count of a direct round in
// progress.
func (r *progressRun) setLive(f func() int) {
	if r == nil {
		return
	}
	if f == nil {
		r.live.Store(nil)
		return
	}
	r.live.Store(&f)
}

// end stops the reports and makes the last one.
func (r *progressRun) end() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	r.t.Stop()
	r.fn(r.done(), r.total)
}
