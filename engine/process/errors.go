package process

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
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
	PID  int

	// ExitCode is the exit status (1 when the function returned an error or
	// panicked), -1 when a signal killed the process.
	ExitCode int

	// Signal is the signal that killed the process, 0 if none did.
	Signal syscall.Signal

	// Err is the function's error (recreated from its text, so errors.Is
	// sees only package engine's sentinels and the context errors), an
	// *engine.PanicError, or an error wrapping ErrDied.
	Err error

	// Stack is the stack of the goroutine that panicked, empty otherwise.
	Stack string

	// Output is the tail of what the process wrote to its stderr when it
	// died without its function returning (a Go runtime crash report),
	// empty otherwise.
	Output string
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

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }
