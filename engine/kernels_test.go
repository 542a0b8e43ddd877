package engine_test

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
)

type fillArgs struct {
	A   *array.Array[int64]
	Off int // guard elements before index 0
}

type sumArgs struct {
	A *array.Array[float64]
}

type failArgs struct {
	At    int  // the index whose chunk fails
	Kill  bool // die by SIGKILL instead (only in a worker process)
	Once  *array.Array[int64]
	Coord int // the coordinator's pid: never kill it
	A     *array.Array[int64]
}

type emptyArgs struct{}

type unexportedArgs struct{ x int }

type chanArgs struct{ C chan int }

func init() {
	engine.Register("noop", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })
	engine.Register("fill", func(c *engine.Ctx, a fillArgs, lo, hi int) error {
		for i := lo; i < hi; i++ {
			a.A.Data()[a.Off+i]++
		}
		return nil
	})
	engine.Register("workerid", func(c *engine.Ctx, a fillArgs, lo, hi int) error {
		for i := lo; i < hi; i++ {
			a.A.Data()[a.Off+i] = int64(c.Worker())
		}
		return nil
	})
	engine.RegisterReduce("sum", func(c *engine.Ctx, a sumArgs, lo, hi int) (float64, error) {
		s := 0.0
		for _, v := range a.A.Data()[lo:hi] {
			s += v
		}
		return s, nil
	}, engine.Idempotent())
	engine.RegisterReduce("isum", func(c *engine.Ctx, _ emptyArgs, lo, hi int) (int64, error) {
		var s int64
		for i := lo; i < hi; i++ {
			s += int64(i)
		}
		return s, nil
	})
	engine.RegisterReduce("imax", func(c *engine.Ctx, _ struct{}, lo, hi int) (int32, error) {
		return int32((hi - 1) % 1000), nil
	})
	engine.Register("panic", func(c *engine.Ctx, a failArgs, lo, hi int) error {
		if lo <= a.At && a.At < hi {
			panic(fmt.Sprintf("boom at %d", a.At))
		}
		return nil
	})
	engine.Register("error", func(c *engine.Ctx, a failArgs, lo, hi int) error {
		if lo <= a.At && a.At < hi {
			return fmt.Errorf("bad element %d", a.At)
		}
		return nil
	})
	// kill writes a[i] = 2i (idempotent) and SIGKILLs its own worker process
	// on the chunk holding At, once.
	kill := func(c *engine.Ctx, a failArgs, lo, hi int) error {
		if lo <= a.At && a.At < hi && os.Getpid() != a.Coord &&
			atomic.CompareAndSwapInt64(&a.Once.Data()[0], 0, int64(os.Getpid())) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		for i := lo; i < hi; i++ {
			a.A.Data()[i] = 2 * int64(i)
		}
		return nil
	}
	engine.Register("kill-idem", kill, engine.Idempotent())
	engine.Register("kill-once", kill)
	engine.Register("wait-cancel", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		deadline := time.Now().Add(20 * time.Second)
		for c.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return c.Err()
	})
	engine.Register("wait-ctx", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		select {
		case <-c.Context().Done():
			return c.Context().Err()
		case <-time.After(20 * time.Second):
			return errors.New("context never ended")
		}
	})
	engine.Register("hang", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		time.Sleep(30 * time.Second)
		return nil
	})
	engine.Register("empty-args", func(c *engine.Ctx, _ emptyArgs, lo, hi int) error { return nil })
	engine.Register("unexported-args", func(c *engine.Ctx, _ unexportedArgs, lo, hi int) error { return nil })
	engine.Register("chan-args", func(c *engine.Ctx, _ chanArgs, lo, hi int) error { return nil })
	engine.Register("any-args", func(c *engine.Ctx, _ any, lo, hi int) error { return nil })
}
