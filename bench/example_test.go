package bench_test

import (
	"context"
	"fmt"

	"github.com/shmpar/shmpar/bench"
	"github.com/shmpar/shmpar/vec"
)

// The serial references are plain functions, destination first.
func ExampleTriad() {
	x := []float64{1, 2, 3}
	y := []float64{10, 20, 30}
	dst := make([]float64, 3)
	bench.Triad(dst, x, 0.5, y) // dst[i] = x[i] + 0.5·y[i]
	fmt.Println(dst)
	// Output: [6 12 18]
}

// Sum adds the chunk partials in the order of engine.Deterministic, so a
// team of any size returns exactly this value.
func ExampleSum() {
	x := make([]float64, 3000)
	for i := range x {
		x[i] = 0.1
	}
	fmt.Println(bench.Sum(x)) // not 300: 0.1 is not a binary fraction
	// Output: 299.9999999999958
}

// Run measures kernels and verifies each row against the serial reference.
// Kernels run in their vec implementation unless Config.Impls says
// otherwise; the label of a row names it.
// LaneSum is the reference of the vec implementation of the sum kernel:
// the same deterministic chunks as Sum, each added in vec's fixed order of
// 16 partial sums, which is vec.Sum's on every machine.
func ExampleLaneSum() {
	x := make([]float64, 3000)
	for i := range x {
		x[i] = 0.1
	}
	chunks := vec.Sum(x[:1024]) + vec.Sum(x[1024:2048]) + vec.Sum(x[2048:]) // engine.Grain(3000) is 1024
	fmt.Println(bench.LaneSum(x), bench.LaneSum(x) == chunks, bench.LaneSum(x) == bench.Sum(x))
	// Output: 299.9999999999997 true false
}

func ExampleRun() {
	rs, err := bench.Run(context.Background(), bench.Config{
		Kernels:  []string{"triad", "sum"},
		N:        100_000,
		Workers:  []int{1, 2},
		Backends: []string{bench.BackendProcess, bench.BackendGoroutine},
		Reps:     3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs {
		fmt.Printf("%s %s/%d verified=%v GB/s reported=%v\n", r.Kernel, r.Backend, r.Workers, r.Verified, r.GBps != nil)
	}
	// Output:
	// triad/vec process/1 verified=true GB/s reported=true
	// triad/vec process/2 verified=true GB/s reported=true
	// triad/vec goroutine/1 verified=true GB/s reported=true
	// triad/vec goroutine/2 verified=true GB/s reported=true
	// sum/vec process/1 verified=true GB/s reported=true
	// sum/vec process/2 verified=true GB/s reported=true
	// sum/vec goroutine/1 verified=true GB/s reported=true
	// sum/vec goroutine/2 verified=true GB/s reported=true
}
