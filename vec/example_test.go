package vec_test

import (
	"fmt"
	"math"

	"github.com/shmpar/shmpar/vec"
)

// A kernel of the engine runs vec on its share [lo, hi) of the arrays:
// here the STREAM triad a = b + s·c over two halves, as two participants
// would.
func ExampleAddScaled() {
	n := 10
	a, b, c := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		b[i], c[i] = float64(i), 1
	}
	for _, r := range [][2]int{{0, 5}, {5, 10}} {
		lo, hi := r[0], r[1]
		vec.AddScaled(a[lo:hi], b[lo:hi], 0.5, c[lo:hi])
	}
	fmt.Println(a)
	// Output: [0.5 1.5 2.5 3.5 4.5 5.5 6.5 7.5 8.5 9.5]
}

// Sum adds in a fixed order of 16 lanes (float64), on every machine: here
// the order makes the small term survive, where a left-to-right sum loses
// it.
func ExampleSum() {
	x := make([]float64, 32)
	x[0], x[1], x[16] = 1, 1<<53, -(1 << 53)
	left := 0.0
	for _, v := range x {
		left += v
	}
	fmt.Println(vec.Sum(x), left)
	// Output: 1 0
}

func ExampleDot() {
	x := []float32{1, 2, 3, 4}
	y := []float32{10, 20, 30, 40}
	fmt.Println(vec.Dot(x, y))
	// Output: 300
}

// Min and Max follow math.Min and math.Max: -0 is below +0, and a NaN
// wins over every number but the infinity in the direction sought.
func ExampleMin() {
	negZero, nan, inf := math.Copysign(0, -1), math.NaN(), math.Inf(1)
	fmt.Println(vec.Min([]float64{3, 0, negZero, 2}), vec.Max([]float64{3, nan, 2}),
		vec.Min([]float64{nan, -inf}), vec.Min([]float64{}))
	// Output: -0 NaN -Inf +Inf
}

// One explicit step of the heat equation on a 4×5 grid, row by row: the
// first and last rows are the boundary and are copied.
func ExampleDiffuseRow() {
	const n, m, alpha = 4, 5, 0.2
	src := []float64{
		100, 100, 100, 100, 100,
		0, 0, 0, 0, 0,
		0, 0, 50, 0, 0,
		0, 0, 0, 0, 0,
	}
	dst := make([]float64, n*m)
	copy(dst[:m], src[:m])
	copy(dst[(n-1)*m:], src[(n-1)*m:])
	for i := 1; i < n-1; i++ {
		vec.DiffuseRow(dst[i*m:(i+1)*m], src[(i-1)*m:i*m], src[i*m:(i+1)*m], src[(i+1)*m:(i+2)*m], alpha)
	}
	for i := range n {
		fmt.Println(dst[i*m : (i+1)*m])
	}
	// Output:
	// [100 100 100 100 100]
	// [0 20 30 20 0]
	// [0 10 10 10 0]
	// [0 0 0 0 0]
}

// The logistic map x ↦ r·x·(1−x), iterated in place, bitwise as the scalar
// loop computes it.
func ExampleLogistic() {
	x := []float64{0.1, 0.5, 0.9}
	vec.Logistic(x, x, 3.9, 3)
	fmt.Printf("%.6f\n", x)
	// Output: [0.386618 0.335500 0.386618]
}

// Streaming stores are used from a destination size on; a program that
// knows better can move the threshold for the process.
func ExampleSetStreamThreshold() {
	old := vec.SetStreamThreshold(64 << 20)
	defer vec.SetStreamThreshold(old)
	fmt.Println(vec.StreamThreshold() >> 20)
	// Output: 64
}
