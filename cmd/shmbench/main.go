// Command shmbench measures the bench kernels on shmpar teams of worker
// processes, on goroutine teams and serially, verifies every result
// against the serial reference, and prints time, speedup, efficiency and
// GB/s as a table, markdown, CSV, JSON or Go benchmark lines, with an
// optional plot.
//
// Usage:
//
//	shmbench [-kernel LIST] [-n N] [-workers LIST|LO-HI] [-reps R] [-backend LIST]
//	         [-schedule static|dynamic|guided] [-format table|markdown|csv|json|gobench]
//	         [-plot FILE.svg|.png] [-o FILE] [-gobench] [-primary] [-pin] [-list]
//
// With no flags it runs the default set, sized to finish in well under a
// minute on 2 cores. shmbench -h lists every flag. The exit status is 0 when
// every row was verified, 2 when a row failed (a wrong result is not a
// result), and 1 for bad usage or an error.
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
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
