//go:build !mpi

package mpi_test

import (
	"fmt"

	"github.com/shmpar/shmpar/mpi"
	"github.com/shmpar/shmpar/mpi/exact"
)

// Each rank sums its share of a global range into an exact accumulator;
// AllreduceExact combines them, and every rank gets the same bits whatever
// the number of ranks: one here, where the example is built without the mpi
// tag; as many as mpirun starts in a program built with it.
func Example() {
	world, err := mpi.Init()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mpi.Finalize()

	const n = 1_000_000
	lo, hi := world.Share(n)
	var acc exact.Acc
	for i := lo; i < hi; i++ {
		acc.Add(1 / float64(i+1)) // the harmonic series
	}
	if err := world.AllreduceExact(&acc); err != nil {
		fmt.Println(err)
		return
	}
	if world.Rank() == 0 {
		fmt.Printf("H(%d) = %.15f\n", n, acc.Float64())
	}
	// Output: H(1000000) = 14.392726722865724
}
