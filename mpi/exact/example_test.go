package exact_test

import (
	"fmt"

	"github.com/shmpar/shmpar/mpi/exact"
)

// A left-to-right float64 loop loses the 1 below 1e100's last bit; the
// exact sum keeps it, in any order.
func ExampleSum() {
	xs := []float64{1e100, 1, -1e100}
	loop := 0.0
	for _, x := range xs {
		loop += x
	}
	fmt.Println(loop, exact.Sum(xs), exact.Sum([]float64{-1e100, 1e100, 1}))
	// Output: 0 1 1
}

// Two halves summed separately (on two machines, say) and merged give the
// bits of the whole.
func ExampleAcc_Merge() {
	xs := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
	var left, right exact.Acc
	left.AddSlice(xs[:2])
	right.AddSlice(xs[2:])
	left.Merge(&right)
	fmt.Println(left.Float64() == exact.Sum(xs), left.Float64())
	// Output: true 2.1
}

// Accumulators travel as int64 words that add up: the element-wise sum of
// every rank's words (one MPI_Allreduce with MPI_SUM) is their merge.
func ExampleAcc_AppendWords() {
	var a, b exact.Acc
	a.Add(1e16)
	b.Add(1)
	b.Add(-1e16)
	sum := a.AppendWords(nil)
	for i, w := range b.AppendWords(nil) {
		sum[i] += w
	}
	var total exact.Acc
	if err := total.AddWords(sum); err != nil {
		fmt.Println(err)
	}
	fmt.Println(total.Float64())
	// Output: 1
}
