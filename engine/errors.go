package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/shmpar/shmpar/engine/internal/remote"
)

// Sentinel errors. Errors returned by this package that have one of these
// causes wrap it, so test with errors.Is; the message around it says which
// kernel, worker or argument was at fault.
var (
	// ErrUnknownKernel is returned when For or Reduce names a kernel that was
	// not registered (kernels are registered in init, before Main runs).
	ErrUnknownKernel = errors.New("unknown kernel")

	// ErrArgsEncode is returned when a value cannot cross to another
	// process — a kernel's arguments, a pool task's input or result, a
	// process function's arguments: encoding/gob cannot encode it (a chan,
	// a func, a struct with no exported fields, an interface holding an
	// unregistered type, ...). The error around it says which value.
	ErrArgsEncode = errors.New("cannot be encoded")

	// ErrArgsTooLarge is returned when an encoded value does not fit where
	// it must cross: a kernel's arguments in the team's argument area
	// (MaxArgs), a pool task's input or result in the pool's queues
	// (pool.QueueSize). Pass large data in a shared array instead: it
	// crosses as its name.
	ErrArgsTooLarge = errors.New("too large")

	// ErrBadRange is returned when n is negative, when a Range option is not
	// inside [0, n), or when a schedule would cut the range into more
	// chunks than a job can count (2^40).
	ErrBadRange = errors.New("invalid loop range")

	// ErrBadOption is returned when an option is out of its domain: by
	// For, Reduce and Partials for a negative Dynamic chunk, Guided
	// minChunk or Deterministic grain (0 picks each one's default); by
	// Start for Workers outside [0, MaxWorkers], MaxArgs over 1 GiB, a
	// Backend other than Process and Goroutine, or ShareNode with fewer
	// than one team or one CPU.
	ErrBadOption = errors.New("invalid option")

	// ErrWorkerDied is returned (inside a *WorkerError) when a worker process
	// died while it ran a chunk of a kernel that is not idempotent, or when a
	// worker died so often that the job was given up.
	ErrWorkerDied = errors.New("worker process died")

	// ErrStalled is returned (inside a *WorkerError, together with
	// ErrWorkerDied) when a worker process made no progress for the stall
	// limit (StallLimit) while it ran a chunk of a kernel that is
	// not idempotent, and was killed.
	ErrStalled = errors.New("worker process stalled")

	// ErrFileLimit is returned (inside a *WorkerError) when a worker
	// process cannot attach the shared segments a job's arguments name
	// because it has reached its open-file limit (RLIMIT_NOFILE), even
	// after closing every segment it kept for other jobs: the job's own
	// arguments need more descriptors than the limit allows.
	ErrFileLimit = errors.New("out of file descriptors")

	// ErrStopped is returned by Ctx.Err when the job is stopping because a
	// chunk on another worker failed.
	ErrStopped = errors.New("job stopped by a failure in another chunk")

	// ErrClosed is returned when a Team is used after Close.
	ErrClosed = errors.New("team closed")

	// ErrNoMain is returned by Start when the worker processes did not come
	// up because the program does not call engine.Main() as the first
	// statement of main (and of TestMain): a re-executed worker then ran the
	// program's own main instead of serving jobs.
	ErrNoMain = errors.New("worker processes did not start: engine.Main() must be the first call in main")

	// ErrStart is returned by Start (and by a job that restarts a dead
	// worker, and by process.Start) when a process cannot be started or
	// does not report ready in time.
	ErrStart = errors.New("cannot start process")

	// ErrInWorker is returned by Start when it is called inside a kernel
	// running in a worker process with the Process backend: worker processes
	// do not start teams of their own.
	ErrInWorker = errors.New("cannot start a process team inside a worker process")
)

// Failure is what the failure types of shmpar have in common: the process
// that ran the code that failed, what went wrong, and how that process
// ended if it died. WorkerError (a chunk of a kernel), pool.TaskError (a
// task of a pool call) and process.Error (a process started by package
// engine/process) embed it, and each adds what failed.
type Failure struct {
	// PID is the process that ran the failed code (the coordinator's for a
	// primary or goroutine participant); 0 if it never ran.
	PID int

	// Err is what went wrong: the code's error (recreated from its text
	// when it came from another process, so errors.Is sees only this
	// package's sentinels, the context errors and those of the package
	// that returned the failure), a *PanicError, or an error wrapping
	// ErrWorkerDied, process.ErrDied or another cause the failure type
	// documents.
	Err error

	// Stack is the stack of the goroutine that panicked, empty for an
	// error return or a dead process.
	Stack string

	// Signal is the signal that killed the process (SIGKILL, SIGSEGV, ...),
	// 0 if it did not die by a signal.
	Signal syscall.Signal

	// Output is the tail of what a process that died wrote to its stderr (a
	// Go runtime fatal error, a cgo crash report), empty otherwise.
	Output string
}

// Unwrap returns Err.
func (f *Failure) Unwrap() error { return f.Err }

// WorkerError describes the failure of one chunk of a job: the kernel
// returned an error, panicked, or its worker process died. For and Reduce
// return it (as error) when the first chunk fails; later failures of the
// same job are dropped, as in errgroup.
type WorkerError struct {
	Kernel string // the kernel's registered name
	Worker int    // participant index, 0 ≤ Worker < Team.Workers()
	Lo, Hi int    // the chunk [Lo, Hi) that failed; Lo == Hi when no chunk was running
	Failure
}

// Error formats the failure on one line — the kernel, the participant and
// its pid, the chunk, what went wrong — followed by the worker's stderr
// when it died.
func (e *WorkerError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %q: worker %d (pid %d)", e.Kernel, e.Worker, e.PID)
	if e.Lo != e.Hi {
		fmt.Fprintf(&b, " chunk [%d, %d)", e.Lo, e.Hi)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Output != "" {
		fmt.Fprintf(&b, "\nworker stderr (tail):\n%s", e.Output)
	}
	return b.String()
}

// WorkerErrors returns every *WorkerError in err's tree, in order. For,
// Reduce and Partials return a single *WorkerError when one chunk failed;
// when worker processes that died took several chunks with them, they
// return errors.Join of one *WorkerError per chunk (errors.As finds the
// first), and WorkerErrors lists them all. It returns nil if err holds
// none.
func WorkerErrors(err error) []*WorkerError {
	var out []*WorkerError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case *WorkerError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, y := range x.Unwrap() {
				walk(y)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// PanicError is the Err of a WorkerError when the kernel panicked. Value is
// the panic value formatted with fmt ("%v"), since the value itself may live
// in another process.
type PanicError struct {
	Value string
}

// Error returns "panic: " and the panic value.
func (e *PanicError) Error() string { return "panic: " + e.Value }

func init() {
	// The sentinels whose identity survives the trip from another process.
	remote.SetSentinels(ErrUnknownKernel, ErrArgsEncode, ErrStopped, ErrInWorker, context.Canceled, context.DeadlineExceeded, ErrFileLimit)
}
