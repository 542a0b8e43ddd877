package pool

import (
	"io"
	"os"
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
