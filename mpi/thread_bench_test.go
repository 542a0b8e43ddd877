package mpi

import (
	"runtime"
	"testing"
)

// BenchmarkLockedThreadServer measures the design Init does not use: MPI
// calls sent over a channel to a goroutine that owns MPI's thread
// (runtime.LockOSThread) and answered over another. Each call pays this
// round trip on top of the MPI call itself; compare with an 8-byte
// Allreduce from bench/baseline/mpi/run.sh.
func BenchmarkLockedThreadServer(b *testing.B) {
	req, resp := make(chan int), make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for x := range req {
			resp <- x + 1
		}
	}()
	x := 0
	for b.Loop() {
		req <- x
		x = <-resp
	}
	close(req)
	if x != b.N {
		b.Fatalf("served %d calls, want %d", x, b.N)
	}
}
