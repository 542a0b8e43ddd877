package process

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shmpar/shmpar/engine"
)

var (
	// ErrDied is wrapped by the Err of an *Error when a process ended
	// without its function returning: it called os.Exit, hit a fatal
	// runtime error (an unrecovered panic in another goroutine, an out of
	// memory), or was killed by a signal (Kill, the OOM killer).
	ErrDied = errors.New("process ended before its function returned")

	// ErrUnknownFunc is wrapped by the error of Start when the new process
	// does not have the function: it was registered after engine.Main ran
	// (outside package initialization), so the program run again does not
	// register it.
	ErrUnknownFunc = errors.New("process function not registered")
)

// Error describes how a process failed; Process.Wait returns it.
type Error struct {
	Name string // the process's name

	// ExitCode is the exit status (1 when the function returned an error or
	// panicked), -1 when a signal killed the process.
	ExitCode int

	// Failure holds the process's pid and what went wrong: the function's
	// error (recreated from its text, so errors.Is sees only package
	// engine's sentinels and the context errors), an *engine.PanicError
	// and its stack, or an error wrapping ErrDied with the signal that
	// killed the process and the tail of its stderr.
	engine.Failure
}

// Error formats the failure on one line, followed by the stderr tail when
// there is one.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "process %q (pid %d): %v", e.Name, e.PID, e.Err)
	if e.Output != "" {
		fmt.Fprintf(&b, "\nprocess stderr (tail):\n%s", e.Output)
	}
	return b.String()
}
