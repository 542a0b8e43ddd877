package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/shmpar/shmpar/bench"
	"github.com/shmpar/shmpar/mpi"
)

// runWorld initialises MPI and runs shmbench: in this process alone on a
// world of one rank (built without -tags mpi, or started without mpirun),
// across the ranks otherwise. A rank whose run ended in an error exits
// without MPI_Finalize, so that mpirun ends the job.
func runWorld(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	yieldWhenIdle()
	world, err := mpi.Init()
	if err != nil {
		fmt.Fprintf(stderr, "shmbench: %v\n", err)
		return exitError
	}
	if world.Size() == 1 {
		world = nil // Run, not RunRanks, and -ranks 1 only
	}
	code := runOn(ctx, world, args, stdout, stderr)
	if code == exitError {
		return code
	}
	if err := mpi.Finalize(); err != nil {
		fmt.Fprintf(stderr, "shmbench: %v\n", err)
		return exitError
	}
	return code
}

// yieldWhenIdle asks Open MPI (unless the user said otherwise) to yield
// the CPU while a rank waits in an MPI call. The ranks that sit out a row
// of fewer ranks than the job's wait in its collective calls while the
// others compute; polling, they would take a core from a rank's workers
// on the same node (mandelbrot on 1 rank × 2 workers of a 2-rank job on 2
// cores: 1.38× instead of 1.96×, 1 worker at half speed in some runs).
// Open MPI reads its MCA parameters from the environment in MPI_Init.
func yieldWhenIdle() {
	const v = "OMPI_MCA_mpi_yield_when_idle"
	if _, ok := os.LookupEnv(v); !ok {
		os.Setenv(v, "1")
	}
}

// setWorld sets the world of a run across ranks and checks the flags that
// depend on it.
func (o *options) setWorld(world *mpi.Comm) error {
	o.world = world
	size := 1
	if world != nil {
		size = world.Size()
	}
	if len(o.ranks) > 0 && slices.Max(o.ranks) > size {
		if world == nil {
			return fmt.Errorf("-ranks %v: this run has one rank; start shmbench built with -tags mpi under mpirun -np %d", o.ranks, slices.Max(o.ranks))
		}
		return fmt.Errorf("-ranks %v: more ranks than the job's %d", o.ranks, size)
	}
	if world != nil && o.plot != "" {
		return fmt.Errorf("-plot %q: the plot has workers on its axis and does not draw runs across ranks; use -format csv or json", o.plot)
	}
	return nil
}

// where names a row's place: "process/2", or "2×process/2" across ranks.
func where(r bench.Result) string {
	if r.Ranks > 0 {
		return fmt.Sprintf("%d×%s/%d", r.Ranks, r.Backend, r.Workers)
	}
	return fmt.Sprintf("%s/%d", r.Backend, r.Workers)
}
