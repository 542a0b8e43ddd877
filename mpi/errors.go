package mpi

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns for one of these causes
// wraps it, so test with errors.Is; the message around it names the call.
var (
	// ErrNotInit is returned by a call made before Init, or on a nil *Comm.
	ErrNotInit = errors.New("MPI is not initialised: call Init first")

	// ErrInitialized is returned by a second call of Init.
	ErrInitialized = errors.New("MPI is already initialised")

	// ErrFinalized is returned by a call made after Finalize (MPI cannot be
	// initialised again in the same process).
	ErrFinalized = errors.New("MPI is finalised")

	// ErrThread is returned by a call made from a goroutine other than the
	// one that called Init (see the package documentation, Threads).
	ErrThread = errors.New("MPI call from a goroutine other than the one that called Init")

	// ErrThreadLevel is returned by Init when the MPI library does not
	// provide MPI_THREAD_FUNNELED.
	ErrThreadLevel = errors.New("the MPI library does not provide MPI_THREAD_FUNNELED")

	// ErrRank is returned when a root, destination or source is not a rank
	// of the communicator (nor ProcNull where that is allowed).
	ErrRank = errors.New("rank out of range")

	// ErrCount is returned when buffer lengths do not fit the call: a
	// length above MaxCount, a receive buffer of the wrong length, or
	// Allgatherv counts that do not match the buffers.
	ErrCount = errors.New("bad buffer length")

	// ErrOp is returned for an Op other than Sum, Min and Max.
	ErrOp = errors.New("unknown reduction operation")

	// ErrTag is returned for a negative message tag.
	ErrTag = errors.New("negative message tag")

	// ErrTruncate is returned (inside an *Error from the MPI library) when a
	// received message is longer than the receive buffer.
	ErrTruncate = errors.New("message truncated")

	// ErrSingleRank is returned by Init in a program built without the mpi
	// build tag that a launcher started as one of several ranks: each rank
	// would compute the whole problem alone. Build with -tags mpi.
	ErrSingleRank = errors.New("built without -tags mpi but launched as one of several ranks")

	// ErrOtherRank is returned by a collective call that agrees on failure
	// (Reduce, Agree) on the ranks where nothing failed, when the call
	// failed on another rank; the ranks where it failed return their own
	// error.
	ErrOtherRank = errors.New("failed on another rank")

	// ErrNotLaunched is returned by Launched when no known launcher's
	// variables are in the environment.
	ErrNotLaunched = errors.New("not started by an MPI launcher or Slurm")

	// ErrLauncherEnv is returned by Launched when a launcher's variables are
	// malformed (not integers, or a rank outside [0, size)).
	ErrLauncherEnv = errors.New("malformed launcher environment")
)

// Error is an error the MPI library returned from a call. Code is the MPI
// error code, Class its class (MPI_Error_class), and Msg the library's own
// text for it (MPI_Error_string).
type Error struct {
	Call  string // the function of this package, such as "Allreduce"
	Code  int
	Class int
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("mpi: %s: %s (MPI error code %d)", e.Call, e.Msg, e.Code)
}

// Unwrap returns ErrTruncate for an error of class MPI_ERR_TRUNCATE, and
// nil otherwise.
func (e *Error) Unwrap() error {
	if e.Class == classTruncate {
		return ErrTruncate
	}
	return nil
}
