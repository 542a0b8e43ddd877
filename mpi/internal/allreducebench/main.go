// Command allreducebench times shmpar's MPI binding with the method of the C
// baseline bench/baseline/mpi/allreduce.c: Allreduce in place (Sum over
// float64) of 8 B and 1 MiB, and a Sendrecv ring of 32 KiB (a halo row of
// 4096 float64s). Each case runs a warm-up, then 11 timed runs; a rank's
// figure is the median of its runs' time per call, and the job's figure is
// the largest over ranks. Rank 0 prints "name value unit" lines.
//
//	go build -tags mpi -o allreducebench ./mpi/internal/allreducebench
//	mpirun -np 2 ./allreducebench
//
// bench/baseline/mpi/run.sh builds and runs both sides.
package main

import (
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/shmpar/shmpar/mpi"
)

const reps = 11

func main() {
	world, err := mpi.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	a8, err := run(world, false, 1, 20000)
	if err == nil {
		var a1m, halo float64
		if a1m, err = run(world, false, 1<<17, 200); err == nil {
			if halo, err = run(world, true, 4096, 2000); err == nil && world.Rank() == 0 {
				np := world.Size()
				fmt.Printf("allreduce/8B/np=%d/go %.3f us\n", np, a8*1e6)
				fmt.Printf("allreduce/1MiB/np=%d/go %.1f us\n", np, a1m*1e6)
				fmt.Printf("sendrecv/32KiB/np=%d/go %.2f us\n", np, halo*1e6)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = world.Abort(1)
	}
	if err := mpi.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run times iters calls of one case reps times and returns the median
// seconds per call, the largest over ranks.
func run(w *mpi.Comm, ring bool, count, iters int) (float64, error) {
	buf, recv := make([]float64, count), make([]float64, count)
	next, prev := (w.Rank()+1)%w.Size(), (w.Rank()+w.Size()-1)%w.Size()
	t := make([]float64, reps)
	for rep := -1; rep < reps; rep++ { // rep -1 is the warm-up
		n := iters
		if rep < 0 {
			n = iters/10 + 1
		}
		if err := w.Barrier(); err != nil {
			return 0, err
		}
		t0 := time.Now()
		for range n {
			var err error
			if ring {
				_, err = mpi.Sendrecv(w, buf, next, recv, prev, 1)
			} else {
				err = mpi.Allreduce(w, buf, mpi.Sum)
			}
			if err != nil {
				return 0, err
			}
		}
		if rep >= 0 {
			t[rep] = time.Since(t0).Seconds() / float64(n)
		}
	}
	slices.Sort(t)
	med := []float64{t[reps/2]}
	if err := mpi.Allreduce(w, med, mpi.Max); err != nil {
		return 0, err
	}
	return med[0], nil
}
