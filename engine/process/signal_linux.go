//go:build linux

package process

import (
	"os"
	"syscall"
	"time"
)

// closeOnExec marks inherited descriptors close-on-exec.
func closeOnExec(fds ...int) {
	for _, fd := range fds {
		syscall.CloseOnExec(fd)
	}
}

// raiseSignal sends sig to this process (whose handler for it was reset)
// and waits for it to take effect.
func raiseSignal(sig syscall.Signal) {
	_ = syscall.Kill(os.Getpid(), sig)
	time.Sleep(time.Second)
	os.Exit(128 + int(sig))
}
