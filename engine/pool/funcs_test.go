package pool_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine/pool"
)

// The functions the pool tests run (registered in every process of the
// test binary).

type addArgs struct{ X, Y int }

type wordArgs struct {
	Word  string
	Times int
}

// killArgs make a task SIGKILL its own worker process when X == At and the
// shared flag Once is still 0 (so it happens once per test).
type killArgs struct {
	X     int
	At    int
	Once  *array.Array[int64]
	Coord int
}

type anyArgs struct {
	V     any
	Count *array.Array[int64] // incremented by every task that runs
}

type chanIn struct{ C chan int }

// napArgs make a task count itself in Started (shared by every process),
// then sleep Ms milliseconds or until its context ends.
type napArgs struct {
	Ms      int
	Started *array.Array[int64]
}

type unregistered struct{ A int }

var (
	sqF     = pool.Register("sq", func(ctx context.Context, x int) (int, error) { return x * x, nil }, pool.Idempotent())
	noopF   = pool.Register("noop", func(ctx context.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil })
	addF    = pool.Register("add", func(ctx context.Context, a addArgs) (int, error) { return a.X + a.Y, nil })
	repeatF = pool.Register("repeat", func(ctx context.Context, a wordArgs) (string, error) {
		return strings.Repeat(a.Word, a.Times), nil
	})
	pidF = pool.Register("pid", func(ctx context.Context, x int) (int, error) {
		return os.Getpid(), nil
	})
	pidSlowF = pool.Register("pid-slow", func(ctx context.Context, ms int) (int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return os.Getpid(), nil
	})
	failOddF = pool.Register("fail-odd", func(ctx context.Context, x int) (int, error) {
		if x%2 == 1 {
			return 0, fmt.Errorf("odd input %d", x)
		}
		return x, nil
	})
	panicAtF = pool.Register("panic-at", func(ctx context.Context, x int) (int, error) {
		if x == 7 {
			panic(fmt.Sprintf("boom at %d", x))
		}
		return x, nil
	})
	killIdemF = pool.Register("kill-idem", kill, pool.Idempotent())
	killOnceF = pool.Register("kill-once", kill)
	sleepMsF  = pool.Register("sleep-ms", sleep)
	napF      = pool.Register("nap", nap)
	napIdemF  = pool.Register("nap-idem", nap, pool.Idempotent())
	// spin never looks at its context: only a kill stops it.
	spinF = pool.Register("spin", func(ctx context.Context, ms int) (int, error) {
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for time.Now().Before(end) {
		}
		return ms, nil
	})
	anyInF = pool.Register("any-in", func(ctx context.Context, a anyArgs) (string, error) {
		atomic.AddInt64(&a.Count.Data()[0], 1)
		return fmt.Sprint(a.V), nil
	})
	chanInF = pool.Register("chan-in", func(ctx context.Context, a chanIn) (int, error) { return 0, nil })
	anyOutF = pool.Register("any-out", func(ctx context.Context, x int) (any, error) {
		if x == 3 {
			return unregistered{x}, nil
		}
		return x, nil
	})
	bigOutF      = pool.Register("big-out", func(ctx context.Context, n int) ([]byte, error) { return make([]byte, n), nil })
	errSentinelF = pool.Register("err-sentinel", func(ctx context.Context, x int) (int, error) {
		return 0, fmt.Errorf("wrapped: %w", context.Canceled)
	})
)

// kill makes a task SIGKILL its own worker process when X == At and the
// shared flag Once is still 0.
func kill(ctx context.Context, a killArgs) (int, error) {
	if a.X == a.At && os.Getpid() != a.Coord && atomic.CompareAndSwapInt64(&a.Once.Data()[0], 0, int64(os.Getpid())) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	return 2 * a.X, nil
}

// sleep waits ms milliseconds or until its context ends.
func sleep(ctx context.Context, ms int) (int, error) {
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return ms, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// nap counts its task in a.Started and sleeps.
func nap(ctx context.Context, a napArgs) (int, error) {
	atomic.AddInt64(&a.Started.Data()[0], 1)
	return sleep(ctx, a.Ms)
}
