package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
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

type unregistered struct{ A int }

var poolCalls atomic.Int64

func init() {
	engine.RegisterFunc("sq", func(ctx context.Context, x int) (int, error) { return x * x, nil }, engine.Idempotent())
	engine.RegisterFunc("noop", func(ctx context.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil })
	engine.RegisterFunc("add", func(ctx context.Context, a addArgs) (int, error) { return a.X + a.Y, nil })
	engine.RegisterFunc("repeat", func(ctx context.Context, a wordArgs) (string, error) {
		return strings.Repeat(a.Word, a.Times), nil
	})
	engine.RegisterFunc("pid", func(ctx context.Context, x int) (int, error) {
		poolCalls.Add(1)
		return os.Getpid(), nil
	})
	engine.RegisterFunc("pid-slow", func(ctx context.Context, ms int) (int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return os.Getpid(), nil
	})
	engine.RegisterFunc("fail-odd", func(ctx context.Context, x int) (int, error) {
		if x%2 == 1 {
			return 0, fmt.Errorf("odd input %d", x)
		}
		return x, nil
	})
	engine.RegisterFunc("panic-at", func(ctx context.Context, x int) (int, error) {
		if x == 7 {
			panic(fmt.Sprintf("boom at %d", x))
		}
		return x, nil
	})
	kill := func(ctx context.Context, a killArgs) (int, error) {
		if a.X == a.At && os.Getpid() != a.Coord && atomic.CompareAndSwapInt64(&a.Once.Data()[0], 0, int64(os.Getpid())) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return 2 * a.X, nil
	}
	engine.RegisterFunc("kill-idem", kill, engine.Idempotent())
	engine.RegisterFunc("kill-once", kill)
	sleep := func(ctx context.Context, ms int) (int, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	engine.RegisterFunc("sleep-ms", sleep)
	engine.RegisterFunc("sleep-ms-idem", sleep, engine.Idempotent())
	// spin never looks at its context: only a kill stops it.
	engine.RegisterFunc("spin", func(ctx context.Context, ms int) (int, error) {
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for time.Now().Before(end) {
		}
		return ms, nil
	})
	engine.RegisterFunc("any-in", func(ctx context.Context, a anyArgs) (string, error) {
		atomic.AddInt64(&a.Count.Data()[0], 1)
		return fmt.Sprint(a.V), nil
	})
	engine.RegisterFunc("chan-in", func(ctx context.Context, a chanIn) (int, error) { return 0, nil })
	engine.RegisterFunc("any-out", func(ctx context.Context, x int) (any, error) {
		if x == 3 {
			return unregistered{x}, nil
		}
		return x, nil
	})
	engine.RegisterFunc("big-out", func(ctx context.Context, n int) ([]byte, error) { return make([]byte, n), nil })
	engine.RegisterFunc("err-sentinel", func(ctx context.Context, x int) (int, error) {
		return 0, fmt.Errorf("wrapped: %w", errors.ErrUnsupported)
	})
}
