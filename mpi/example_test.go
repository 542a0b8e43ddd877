//go:build !mpi

package mpi_test

import (
	"context"
	"fmt"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi"
	"github.com/shmpar/shmpar/mpi/exact"
)

// harmonic sums 1/(i+1) over its chunk of a global index range.
var harmonic = engine.RegisterReduce("mpi-example/harmonic", func(_ *engine.Ctx, _ struct{}, lo, hi int) (float64, error) {
	s := 0.0
	for i := lo; i < hi; i++ {
		s += 1 / float64(i+1)
	}
	return s, nil
})

// Each rank runs its share of a global loop on its own team of worker
// processes, and Reduce combines the partial sums of every rank's chunks
// exactly: the result has the same bits for any number of ranks and
// workers. Here there is one rank, since the example is built without the
// mpi tag, with a team of two workers; under mpirun, in a program built
// with the tag, every rank prints the same line. The second half does the
// same by hand, one element at a time: each rank adds its share of the
// terms to an exact accumulator, and AllreduceExact adds the accumulators.
func Example() {
	world, err := mpi.Init()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mpi.Finalize()
	team, err := engine.Start(world.ShareNode(), engine.Workers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer team.Close()

	const n = 10_000_000
	h, err := mpi.Reduce(context.Background(), world, team, harmonic, n, struct{}{}, mpi.Sum)
	if err != nil {
		fmt.Println(err)
		return
	}
	g := mpi.Grain(n)
	fmt.Printf("H(%d) = %.15f, %d chunks of %d\n", n, h, (n+g-1)/g, g)

	const m = 1_000_000
	lo, hi := world.Share(m)
	var acc exact.Acc
	for i := lo; i < hi; i++ {
		acc.Add(1 / float64(i+1))
	}
	if err := world.AllreduceExact(&acc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("H(%d) = %.15f\n", m, acc.Float64())
	// Output:
	// H(10000000) = 16.695311365859858, 611 chunks of 16384
	// H(1000000) = 14.392726722865724
}
