package pool

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// EnvStopAt makes a worker process of a test's team stop itself (SIGSTOP)
// once, at a moment of its loop: "MOMENT:MARKER" stops the first worker
// process to reach MOMENT (see testStop) and to create the file MARKER,
// into which it writes its pid.
const EnvStopAt = "SHMPAR_POOL_TEST_STOP_AT"

func init() {
	v := os.Getenv(EnvStopAt)
	moment, marker, ok := strings.Cut(v, ":")
	if !ok {
		return
	}
	testStop = func(m string) {
		if m != moment {
			return
		}
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return // another worker process stopped already
		}
		fmt.Fprint(f, os.Getpid())
		f.Close()
		// Sent to this thread, the stop takes effect before the call
		// returns (a signal to the process may be taken by another
		// thread, and this one run on for a while).
		runtime.LockOSThread()
		syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP)
		runtime.UnlockOSThread()
	}
}
