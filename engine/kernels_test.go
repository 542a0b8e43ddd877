package engine_test

import (
	"errors"
	"fmt"
	"math"
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

// The kernels the tests run (registered in every process of the test
// binary).
var (
	noopK = engine.Register("noop", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })
	fillK = engine.Register("fill", func(c *engine.Ctx, a fillArgs, lo, hi int) error {
		for i := lo; i < hi; i++ {
			a.A.Data()[a.Off+i]++
		}
		return nil
	})
	workerIDK = engine.Register("workerid", func(c *engine.Ctx, a fillArgs, lo, hi int) error {
		for i := lo; i < hi; i++ {
			a.A.Data()[a.Off+i] = int64(c.Worker())
		}
		return nil
	})
	sumK = engine.RegisterReduce("sum", func(c *engine.Ctx, a sumArgs, lo, hi int) (float64, error) {
		s := 0.0
		for _, v := range a.A.Data()[lo:hi] {
			s += v
		}
		return s, nil
	}, engine.Idempotent())
	fminK = engine.RegisterReduce("fmin", func(c *engine.Ctx, a sumArgs, lo, hi int) (float64, error) {
		m := math.Inf(1)
		for _, v := range a.A.Data()[lo:hi] {
			m = math.Min(m, v)
		}
		return m, nil
	}, engine.Idempotent())
	fmaxK = engine.RegisterReduce("fmax", func(c *engine.Ctx, a sumArgs, lo, hi int) (float64, error) {
		m := math.Inf(-1)
		for _, v := range a.A.Data()[lo:hi] {
			m = math.Max(m, v)
		}
		return m, nil
	}, engine.Idempotent())
	isumK = engine.RegisterReduce("isum", func(c *engine.Ctx, _ emptyArgs, lo, hi int) (int64, error) {
		var s int64
		for i := lo; i < hi; i++ {
			s += int64(i)
		}
		return s, nil
	})
	imaxK = engine.RegisterReduce("imax", func(c *engine.Ctx, _ struct{}, lo, hi int) (int32, error) {
		return int32((hi - 1) % 1000), nil
	})
	panicK = engine.Register("panic", func(c *engine.Ctx, a failArgs, lo, hi int) error {
		if lo <= a.At && a.At < hi {
			panic(fmt.Sprintf("boom at %d", a.At))
		}
		return nil
	})
	errorK = engine.Register("error", func(c *engine.Ctx, a failArgs, lo, hi int) error {
		if lo <= a.At && a.At < hi {
			return fmt.Errorf("bad element %d", a.At)
		}
		return nil
	})
	incK  = engine.Register("inc", inc)
	manyK = engine.Register("many", func(c *engine.Ctx, a manyArgs, lo, hi int) error {
		for _, x := range a.As {
			for i := lo; i < hi; i++ {
				x.Data()[i]++
			}
		}
		return nil
	})
	stallK       = engine.Register("stall", stall)
	stallIdemK   = engine.Register("stall-idem", stall, engine.Idempotent())
	stallExemptK = engine.Register("stall-exempt", stall, engine.StallLimit(-1))
	meetK        = engine.Register("meet", func(c *engine.Ctx, a meetArgs, lo, hi int) error {
		// Each chunk waits until Want chunks have started, then records
		// its process's pid at Gate[1+lo]: a static job over Want
		// elements on a team of Want worker processes succeeds only if
		// every one of them takes part.
		g := a.Gate.Data()
		atomic.AddInt64(&g[0], 1)
		deadline := time.Now().Add(a.Wait)
		for atomic.LoadInt64(&g[0]) < int64(a.Want) {
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d participants met within %v", atomic.LoadInt64(&g[0]), a.Want, a.Wait)
			}
			time.Sleep(100 * time.Microsecond)
		}
		for i := lo; i < hi; i++ {
			g[1+i] = int64(os.Getpid())
		}
		return nil
	}, engine.Idempotent())
	crashK = engine.Register("crash", func(c *engine.Ctx, a failArgs, lo, hi int) error {
		// Writes a[i] = 2i, and SIGKILLs its worker process on every run
		// of the chunk holding At (of every chunk if At < 0).
		for i := lo; i < hi; i++ {
			a.A.Data()[i] = 2 * int64(i)
		}
		if os.Getpid() != a.Coord && (a.At < 0 || lo <= a.At && a.At < hi) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
		return nil
	}, engine.Idempotent())
	killIdemK   = engine.Register("kill-idem", kill, engine.Idempotent())
	killOnceK   = engine.Register("kill-once", kill)
	waitCancelK = engine.Register("wait-cancel", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		deadline := time.Now().Add(20 * time.Second)
		for c.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return c.Err()
	})
	waitCtxK = engine.Register("wait-ctx", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		select {
		case <-c.Context().Done():
			return c.Context().Err()
		case <-time.After(20 * time.Second):
			return errors.New("context never ended")
		}
	})
	hangK = engine.Register("hang", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		time.Sleep(30 * time.Second)
		return nil
	})
	emptyArgsK      = engine.Register("empty-args", func(c *engine.Ctx, _ emptyArgs, lo, hi int) error { return nil })
	unexportedArgsK = engine.Register("unexported-args", func(c *engine.Ctx, _ unexportedArgs, lo, hi int) error { return nil })
	chanArgsK       = engine.Register("chan-args", func(c *engine.Ctx, _ chanArgs, lo, hi int) error { return nil })
	bytesK          = engine.Register("bytes", func(c *engine.Ctx, b []byte, lo, hi int) error { return nil })
	stampK          = engine.Register("stamp", func(c *engine.Ctx, a stampArgs, lo, hi int) error {
		d := a.A.Data()
		for i := lo; i < hi; i++ {
			d[i] = a.Job
		}
		return nil
	})
	nestedK = engine.Register("nested", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
		t, err := engine.Start(engine.Workers(1))
		if err == nil {
			t.Close()
			return errors.New("nested Start succeeded")
		}
		return err
	})
	decodesK = engine.RegisterReduce("decodes", func(c *engine.Ctx, a countArgs, lo, hi int) (int64, error) {
		return decodes.Load(), nil
	})
	affinityK = engine.RegisterReduce("affinity", func(c *engine.Ctx, _ struct{}, lo, hi int) (int, error) {
		return threadCPUs(), nil
	})
	anyArgsK = engine.Register("any-args", func(c *engine.Ctx, _ any, lo, hi int) error { return nil })
)

// kill writes a[i] = 2i (idempotent) and SIGKILLs its own worker process
// on the first chunk it runs that ends past At (once per Once flag). In the
// coordinator (a primary participant) it waits until a worker has killed
// itself, so that a worker process gets a chunk past At.
func kill(c *engine.Ctx, a failArgs, lo, hi int) error {
	if os.Getpid() == a.Coord {
		deadline := time.Now().Add(10 * time.Second)
		for atomic.LoadInt64(&a.Once.Data()[0]) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	} else if a.At >= 0 && hi > a.At && atomic.CompareAndSwapInt64(&a.Once.Data()[0], 0, int64(os.Getpid())) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	for i := lo; i < hi; i++ {
		a.A.Data()[i] = 2 * int64(i)
	}
	return nil
}

// incArgs are the arguments of inc, a kernel that is not idempotent.
type incArgs struct {
	A *array.Array[int64]
	// Gate, when set, makes the first Gate[1] chunks that worker
	// processes start (Gate[0] counts them) wait until all of them have
	// started, run the first half of their chunk, record its start + 1 in
	// Gate[2+i] and SIGKILL their process: every worker dies in the
	// middle of a chunk.
	Gate  *array.Array[int64]
	Coord int // the coordinator's pid: it never dies
}

// inc adds 1 to each element of its chunk (see incArgs for Gate).
func inc(c *engine.Ctx, a incArgs, lo, hi int) error {
	d := a.A.Data()
	if a.Gate != nil && os.Getpid() == a.Coord {
		// A primary coordinator would run every chunk before the workers
		// wake: it waits in its first chunk until they have started theirs.
		g := a.Gate.Data()
		deadline := time.Now().Add(10 * time.Second)
		for atomic.LoadInt64(&g[0]) < g[1] && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
	} else if a.Gate != nil {
		g := a.Gate.Data()
		if i := atomic.AddInt64(&g[0], 1) - 1; i < atomic.LoadInt64(&g[1]) {
			deadline := time.Now().Add(10 * time.Second)
			for atomic.LoadInt64(&g[0]) < g[1] && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			mid := lo + (hi-lo+1)/2
			for j := lo; j < mid; j++ {
				d[j]++
			}
			atomic.StoreInt64(&g[2+i], int64(lo)+1)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
	for j := lo; j < hi; j++ {
		d[j]++
	}
	return nil
}

// stallArgs are the arguments of the stall kernels.
type stallArgs struct {
	A *array.Array[int64] // A[i] = 1 (Idem) or A[i]++ for each element
	// Gate, when set, makes the first run of the chunk holding At record
	// its process's pid in Gate[0], then burn CPU until Gate[1] is set or
	// Spin has passed.
	Gate *array.Array[int64]
	At   int
	Spin time.Duration
	Idem bool
	// Nap makes each chunk sleep this long first, calling Ctx.Progress
	// every Beat if Beat > 0, and making a Ctx.Context first if Ctx.
	Nap, Beat time.Duration
	Ctx       bool
}

func stall(c *engine.Ctx, a stallArgs, lo, hi int) error {
	if a.Gate != nil && lo <= a.At && a.At < hi && atomic.CompareAndSwapInt64(&a.Gate.Data()[0], 0, int64(os.Getpid())) {
		g := a.Gate.Data()
		for deadline := time.Now().Add(a.Spin); atomic.LoadInt64(&g[1]) == 0 && time.Now().Before(deadline); {
		}
	}
	if a.Ctx {
		_ = c.Context()
	}
	for end := time.Now().Add(a.Nap); time.Now().Before(end); {
		if a.Beat <= 0 {
			time.Sleep(time.Until(end))
			break
		}
		time.Sleep(min(a.Beat, time.Until(end)))
		c.Progress()
	}
	d := a.A.Data()
	for i := lo; i < hi; i++ {
		if a.Idem {
			d[i] = 1
		} else {
			d[i]++
		}
	}
	return nil
}

type meetArgs struct {
	Gate *array.Array[int64] // [0] arrivals, [1+i] the pid that ran element i
	Want int
	Wait time.Duration
}

type manyArgs struct {
	As []*array.Array[int64]
}

type stampArgs struct {
	A   *array.Array[int64]
	Job int64
}

// counted counts its gob encodings and decodings in this process.
type counted struct{ p string }

var encodes, decodes atomic.Int64

func (c *counted) GobEncode() ([]byte, error) { encodes.Add(1); return []byte(c.p), nil }
func (c *counted) GobDecode(b []byte) error   { decodes.Add(1); c.p = string(b); return nil }
func (c *counted) Path() string               { return c.p }

type countArgs struct {
	C *counted
	N int
}
