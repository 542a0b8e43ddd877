package pool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shmpar/shmpar/engine"
)

// Sentinel errors of the pool. Errors with one of these causes wrap it:
// test with errors.Is. Package engine's sentinels (engine.ErrWorkerDied,
// engine.ErrArgsEncode, engine.ErrArgsTooLarge, engine.ErrClosed) describe
// the failures a pool shares with the team.
var (
	// ErrUnknownFunc is the Err of the TaskErrors of a call whose function
	// the worker processes do not have: it was registered after engine.Main
	// ran (outside package initialization), so the workers, which run the
	// program again, do not register it.
	ErrUnknownFunc = errors.New("pool function not registered in the worker process")

	// ErrTaskTimeout is the Err of a TaskError whose task ran longer than
	// the call's Timeout. The worker process that ran it was killed and is
	// replaced.
	ErrTaskTimeout = errors.New("task timed out")

	// ErrClosed is returned by calls on a closed Pool, and by calls still
	// running when it closes.
	ErrClosed = errors.New("pool closed")

	// ErrNotDone is returned by Future.Result while the task has not
	// finished.
	ErrNotDone = errors.New("task not finished")

	// ErrInit is wrapped by an *InitError: the pool's initializer (see
	// Initializer) failed in a worker process. New and On return it, or,
	// when it fails in a worker that replaced one, every call of the pool.
	ErrInit = errors.New("pool initializer failed")
)

// TaskError is the failure of one task of a pool call: the function
// returned an error or panicked, the task ran over its Timeout, its input or
// result could not cross between processes, or the worker process running it
// died. The other tasks of the call are not affected.
type TaskError struct {
	Func   string // the function's registered name
	Index  int    // position of the task's input in the call (0 for Apply)
	Worker int    // participant that ran the task; -1 if it never ran

	// Failure holds the process that ran the task (the coordinator's for a
	// goroutine team) and what went wrong: the function's error, an
	// *engine.PanicError and its stack, or an error wrapping
	// ErrTaskTimeout, ErrUnknownFunc, engine.ErrWorkerDied (with the
	// signal and the dead worker's stderr), engine.ErrArgsEncode or
	// engine.ErrArgsTooLarge.
	engine.Failure
}

// Error formats the failure on one line, followed by the stack or the dead
// worker's output when there is one.
func (e *TaskError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "func %q task %d", e.Func, e.Index)
	if e.Worker >= 0 {
		fmt.Fprintf(&b, ": worker %d (pid %d)", e.Worker, e.PID)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	if e.Output != "" {
		fmt.Fprintf(&b, "\nworker stderr (tail):\n%s", e.Output)
	}
	return b.String()
}

// TaskErrors is the error Map returns when some of its tasks failed: one
// *TaskError per failed task, in input order. The results of the other tasks
// are valid. errors.As finds the first *TaskError in it.
type TaskErrors []*TaskError

// Error says how many tasks failed and quotes the first failure.
func (e TaskErrors) Error() string {
	switch len(e) {
	case 0:
		return "no task failed"
	case 1:
		return e[0].Error()
	}
	return fmt.Sprintf("%d tasks failed; the first: %v", len(e), e[0])
}

// Unwrap returns the task errors, for errors.Is and errors.As.
func (e TaskErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, t := range e {
		out[i] = t
	}
	return out
}
