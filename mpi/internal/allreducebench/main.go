// Command allreducebench times shmpar's MPI binding with the method of the C
// baseline bench/baseline/mpi/allreduce.c: Allreduce in place (Sum over
// float64) of 8 B and 1 MiB, AllreduceExact (584 B of accumulator words,
// encoded and decoded), and a Sendrecv ring of 32 KiB (a halo row of 4096
// float64s). Each case runs a warm-up, then 11 timed runs; a rank's
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
	"github.com/shmpar/shmpar/mpi/exact"
)

const reps = 11

func main() {
	world, err := mpi.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var t [4]float64
	for i, c := range []struct {
		kind         kind
		count, iters int
	}{{allreduce, 1, 20000}, {allreduce, 1 << 17, 200}, {sendrecv, 4096, 2000}, {allreduceExact, 0, 20000}} {
		if t[i], err = run(world, c.kind, c.count, c.iters); err != nil {
			break
		}
	}
	if np := world.Size(); err == nil && world.Rank() == 0 {
		fmt.Printf("allreduce/8B/np=%d/go %.3f us\n", np, t[0]*1e6)
		fmt.Printf("allreduce/1MiB/np=%d/go %.1f us\n", np, t[1]*1e6)
		fmt.Printf("sendrecv/32KiB/np=%d/go %.2f us\n", np, t[2]*1e6)
		fmt.Printf("allreduce_exact/584B/np=%d/go %.3f us\n", np, t[3]*1e6)
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

type kind int

const (
	allreduce kind = iota
	sendrecv
	allreduceExact
)

// run times iters calls of one case reps times and returns the median
// seconds per call, the largest over ranks.
func run(w *mpi.Comm, k kind, count, iters int) (float64, error) {
	buf, recv := make([]float64, count), make([]float64, count)
	next, prev := (w.Rank()+1)%w.Size(), (w.Rank()+w.Size()-1)%w.Size()
	t := make([]float64, reps)
	var acc exact.Acc
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
			switch k {
			case allreduce:
				err = mpi.Allreduce(w, buf, mpi.Sum)
			case sendrecv:
				_, err = mpi.Sendrecv(w, buf, next, recv, prev, 1)
			case allreduceExact:
				acc.Reset()
				acc.Add(float64(w.Rank()))
				err = w.AllreduceExact(&acc)
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
