// Command shmbench measures the bench kernels on shmpar teams of worker
// processes, on goroutine teams and serially, verifies every result
// against the serial reference, and prints time, speedup, efficiency and
// GB/s as a table, markdown, CSV, JSON or Go benchmark lines, with an
// optional plot.
//
// Usage:
//
//	shmbench [-kernel LIST] [-impl go,vec,simd|all] [-n N] [-workers LIST|LO-HI] [-ranks LIST] [-reps R]
//	         [-backend LIST] [-schedule static|dynamic|guided]
//	         [-format table|markdown|csv|json|gobench] [-plot FILE.svg|.png] [-o FILE]
//	         [-gobench] [-primary] [-pin] [-list]
//
// The kernels that package vec covers run in its implementation by
// default; -impl go,vec puts the plain Go loops beside them (rows
// "triad/go", "triad/vec"), so that vec's gain is a ratio within one run,
// and a shmbench built with GOEXPERIMENT=simd has a third implementation of
// logistic, simd. With no flags it runs the default set, sized to finish in
// about 20 s on 2 cores. shmbench -h lists every flag. The exit status is 0 when
// every row was verified, 2 when a row failed (a wrong result is not a
// result), and 1 for bad usage or an error.
//
// Across ranks: built with -tags mpi and started by mpirun (mpirun -np R
// shmbench …), shmbench runs every row on 1, 2, 4, … ranks up to R
// (-ranks to choose), one team per rank, each rank its part of the loop;
// every rank verifies its own part, a row is verified when all are, and
// rank 0 prints the table with a ranks column (bench.RunRanks,
// docs/CLUSTER.md). Built without the tag, or started without mpirun, it
// is the single-process command above.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shmpar/shmpar/engine"
)

func main() {
	engine.Main() // worker processes of the teams serve jobs here
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWorld(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
