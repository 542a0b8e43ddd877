package lock

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shmpar/shmpar/internal/futex"
)

// waiter holds what a blocking call needs to sleep on a futex word with an
// optional context: the deadline and a cancellation hook that wakes the word.
type waiter struct {
	ctx      context.Context
	deadline int64 // nanotime of ctx's deadline; 0 for none
	stop     func() bool
}

// arm prepares w for sleeping on addr under ctx (context.Background() for
// no limit). When ctx is cancelled every sleeper on addr is woken; they
// re-check and sleep again, except the one whose context ended. disarm must
// be called afterwards.
func (w *waiter) arm(ctx context.Context, addr *uint32) {
	w.ctx = ctx
	if d, ok := ctx.Deadline(); ok {
		w.deadline = nanotime() + int64(time.Until(d))
		if w.deadline == 0 {
			w.deadline = -1
		}
	}
	if ctx.Done() != nil {
		w.stop = context.AfterFunc(ctx, func() { _, _ = futex.Wake(addr, math.MaxInt32) })
	}
}

func (w *waiter) disarm() {
	if w.stop != nil {
		w.stop()
	}
}

// err returns the context's error once it is done; the caller adds what it
// was doing.
func (w *waiter) err() error { return w.ctx.Err() }

// sleep waits on addr while it holds val, for at most limit and at most
// until the context's deadline. Wake-ups, timeouts and signals all return
// nil; only a futex failure (an unsupported platform, a bad address) is an
// error.
func (w *waiter) sleep(op string, addr *uint32, val uint32, limit time.Duration) error {
	if w.deadline != 0 {
		left := time.Duration(w.deadline - nanotime())
		if left < limit {
			limit = max(left, time.Microsecond)
		}
	}
	if err := futex.Wait(addr, val, limit); err != nil && err != futex.ErrTimeout {
		return fmt.Errorf("%s: futex wait: %w", op, err)
	}
	return nil
}
