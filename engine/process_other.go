//go:build !linux

package engine

import (
	"os"
	"syscall"
)

// Spawn cannot start processes here (startCmd returns
// errors.ErrUnsupported), so the spawned side never runs.

func closeOnExec(fds ...int) {}

func raiseSignal(sig syscall.Signal) { os.Exit(128 + int(sig)) }
