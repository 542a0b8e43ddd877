//go:build !linux

package process

import (
	"os"
	"syscall"
)

// Start cannot start processes here (reexec.Start returns
// errors.ErrUnsupported), so the child side never runs.

func closeOnExec(fds ...int) {}

func raiseSignal(sig syscall.Signal) { os.Exit(128 + int(sig)) }
