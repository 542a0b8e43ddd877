package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
)

// ScaleArgs are the arguments of the example kernels: the array crosses to
// the worker processes as its path.
type ScaleArgs struct {
	X *array.Array[float64]
	S float64
}

// The kernels of the examples, registered at package initialization (a
// package-level var) so that the worker processes — this program run again
// — have them too. Programs run them through the handles.
var (
	scale = engine.Register("example-scale", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
		x := a.X.Data()
		for i := lo; i < hi; i++ {
			x[i] *= a.S
		}
		return nil
	}, engine.Idempotent())
	total = engine.RegisterReduce("example-sum", func(c *engine.Ctx, a ScaleArgs, lo, hi int) (float64, error) {
		s := 0.0
		for _, v := range a.X.Data()[lo:hi] {
			s += v
		}
		return s, nil
	}, engine.Idempotent())
	// count is not idempotent (running a chunk twice counts it twice);
	// its worker process dies at element 45 the first time it gets there.
	count = engine.Register("example-count", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
		x := a.X.Data()
		for i := lo; i < hi; i++ {
			if i == 45 && x[len(x)-1] == 0 {
				x[len(x)-1] = 1
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			}
			x[i]++
		}
		return nil
	})
	// wait waits for something that takes longer than the team's stall
	// limit, using no CPU, and tells the team it is making progress.
	wait = engine.Register("example-wait", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
		for range 6 {
			time.Sleep(50 * time.Millisecond)
			c.Progress()
		}
		return nil
	})
	check = engine.Register("example-check", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error {
		for i := lo; i < hi; i++ {
			if a.X.Data()[i] < 0 {
				return fmt.Errorf("x[%d] is negative", i)
			}
		}
		return nil
	})
)

// A team of two worker processes scales a shared array in place, then sums
// it. (A program calls engine.Main() first in main; this test binary does
// in TestMain.)
func Example() {
	ctx := context.Background()
	team, err := engine.Start(engine.Workers(2))
	if err != nil {
		panic(err)
	}
	defer team.Close()

	x, err := array.CreateAnon[float64](1000)
	if err != nil {
		panic(err)
	}
	defer x.Close()
	for i := range x.Data() {
		x.Data()[i] = float64(i)
	}
	if err := scale.For(ctx, team, x.Len(), ScaleArgs{X: x, S: 2}); err != nil {
		panic(err)
	}
	sum, err := total.Reduce(ctx, team, x.Len(), ScaleArgs{X: x}, engine.Sum[float64]())
	fmt.Println(sum, err)
	// Output: 999000 <nil>
}

// A deterministic reduction gives the same bits whatever the team size.
func ExampleDeterministic() {
	ctx := context.Background()
	x, _ := array.CreateAnon[float64](100000)
	defer x.Close()
	for i := range x.Data() {
		x.Data()[i] = 1 / float64(i+1)
	}
	var sums []float64
	for _, w := range []int{1, 3} {
		team, err := engine.Start(engine.Workers(w))
		if err != nil {
			panic(err)
		}
		s, _ := total.Reduce(ctx, team, x.Len(), ScaleArgs{X: x}, engine.Sum[float64](), engine.Deterministic(0))
		sums = append(sums, s)
		team.Close()
	}
	fmt.Println(sums[0] == sums[1])
	// Output: true
}

// A kernel's error comes back as a *WorkerError naming the chunk.
func ExampleWorkerError() {
	ctx := context.Background()
	team, _ := engine.Start(engine.Workers(2))
	defer team.Close()
	x, _ := array.CreateAnon[float64](100)
	defer x.Close()
	x.Data()[42] = -1

	err := check.For(ctx, team, x.Len(), ScaleArgs{X: x}, engine.Dynamic(10))
	var we *engine.WorkerError
	if errors.As(err, &we) {
		fmt.Printf("chunk [%d, %d): %v\n", we.Lo, we.Hi, we.Err)
	}
	// Output: chunk [40, 50): x[42] is negative
}

// A worker process dies in the middle of a chunk of a kernel that is not
// idempotent: the team replaces it and runs every other chunk, and the
// error names the chunk that may be partly done.
func ExampleWorkerErrors() {
	ctx := context.Background()
	team, _ := engine.Start(engine.Workers(1))
	defer team.Close()
	x, _ := array.CreateAnon[float64](101) // the last element is the kernel's flag
	defer x.Close()

	err := count.For(ctx, team, 100, ScaleArgs{X: x}, engine.Dynamic(10))
	for _, we := range engine.WorkerErrors(err) {
		fmt.Printf("lost [%d, %d), worker died: %v\n", we.Lo, we.Hi, errors.Is(we, engine.ErrWorkerDied))
	}
	once := true
	for i, v := range x.Data()[:100] {
		if (i < 40 || i >= 50) && v != 1 {
			once = false
		}
	}
	fmt.Println("every other element counted once:", once)
	// Output:
	// lost [40, 50), worker died: true
	// every other element counted once: true
}

// A kernel that waits longer than the team's stall limit without using CPU
// calls Ctx.Progress, so that its worker is not taken for stopped.
func ExampleCtx_Progress() {
	team, _ := engine.Start(engine.Workers(1), engine.StallLimit(100*time.Millisecond))
	defer team.Close()
	pid := team.PIDs()[0]
	err := wait.For(context.Background(), team, 1, ScaleArgs{})
	fmt.Println(err, team.PIDs()[0] == pid)
	// Output: <nil> true
}

// A For of many chunks tells a callback how many are done: (0, total) at
// the start, then at most every ProgressInterval, and the end. A pool's
// ProgressBar (package engine/pool) is such a callback.
func ExampleReportProgress() {
	team, _ := engine.Start(engine.Workers(2))
	defer team.Close()
	x, _ := array.CreateAnon[float64](1000)
	defer x.Close()
	var first, last [2]int
	calls := 0
	report := func(done, total int) {
		if calls == 0 {
			first = [2]int{done, total}
		}
		last = [2]int{done, total}
		calls++
	}
	err := scale.For(context.Background(), team, 1000, ScaleArgs{X: x, S: 2}, engine.Dynamic(10), engine.ReportProgress(report))
	fmt.Println(err)
	fmt.Printf("first report: %d of %d chunks\n", first[0], first[1])
	fmt.Printf("last report: %d of %d chunks\n", last[0], last[1])
	// Output:
	// <nil>
	// first report: 0 of 100 chunks
	// last report: 100 of 100 chunks
}

// Start takes options; without any it starts one worker process per usable
// CPU. A value out of range is an error, and no team is started.
func ExampleStart() {
	team, err := engine.Start(engine.Workers(2), engine.Primary(true), engine.StallLimit(10*time.Second))
	if err != nil {
		panic(err)
	}
	defer team.Close()
	fmt.Println(team.Workers(), team.Backend(), len(team.PIDs()))

	_, err = engine.Start(engine.Workers(-1))
	fmt.Println(err)
	// Output:
	// 2 process 2
	// engine: Start: invalid option: Workers(-1), want 0 (one per usable CPU) to 1024
}
