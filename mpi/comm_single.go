//go:build !mpi

package mpi

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// Built without the mpi tag: one rank, no cgo. The collectives copy within
// the process, with the same checks and results as the MPI build at size 1.

// classTruncate is MPI_ERR_TRUNCATE's class in Open MPI; the single-rank
// build reports truncation as the sentinel directly.
const classTruncate = 15

// Built reports whether the package was built with the mpi build tag (true)
// or is the single-rank implementation (false).
const Built = false

func initialize() (rank, size, nodeRank, nodeSize int, err error) {
	p, err := Launched()
	if err == nil && p.Size > 1 {
		return 0, 0, 0, 0, fmt.Errorf("mpi: Init: %w (%s started %d ranks; this is rank %d)", ErrSingleRank, p.Launcher, p.Size, p.Rank)
	}
	if err != nil && !errors.Is(err, ErrNotLaunched) {
		return 0, 0, 0, 0, fmt.Errorf("mpi: Init: %w", err)
	}
	return 0, 1, 0, 1, nil
}

func finalize() error { return nil }

func barrier() error { return nil }

func abort(code int) error {
	fmt.Fprintf(os.Stderr, "mpi: Abort(%d) on the only rank\n", code)
	os.Exit(code)
	return nil
}

func bcast(unsafe.Pointer, int, dtype, int) error { return nil }

func allreduce(unsafe.Pointer, int, dtype, Op) error { return nil }

func allgather(send unsafe.Pointer, count int, recv unsafe.Pointer, dt dtype) error {
	copyElems(recv, send, count, dt)
	return nil
}

func allgatherv(send unsafe.Pointer, count int, recv unsafe.Pointer, _, _ []int32, dt dtype) error {
	copyElems(recv, send, count, dt)
	return nil
}

func sendrecv(send unsafe.Pointer, scount, dest int, recv unsafe.Pointer, rcount, source, _ int, dt dtype) (int, error) {
	if source == ProcNull {
		return 0, nil
	}
	if dest == ProcNull {
		// Nothing is sent, so a receive from this rank would wait for ever,
		// as MPI_Sendrecv would.
		return 0, fmt.Errorf("mpi: Sendrecv: receive from rank 0 with nothing sent to it: it would never complete")
	}
	if scount > rcount {
		return 0, fmt.Errorf("mpi: Sendrecv: %w: %d elements sent, room for %d", ErrTruncate, scount, rcount)
	}
	copyElems(recv, send, scount, dt)
	return scount, nil
}

// copyElems copies count elements of type dt from src to dst.
func copyElems(dst, src unsafe.Pointer, count int, dt dtype) {
	if count == 0 {
		return
	}
	n := count * dt.size()
	copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n))
}

func (d dtype) size() int {
	return [...]int{dtInt8: 1, dtInt16: 2, dtInt32: 4, dtInt64: 8, dtUint8: 1, dtUint16: 2, dtUint32: 4, dtUint64: 8, dtFloat32: 4, dtFloat64: 8}[d]
}
