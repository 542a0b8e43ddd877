package queue

import (
	"time"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands (linux/membarrier.h).
const (
	mbQuery                   = 0
	mbGlobalExpedited         = 1 << 1
	mbRegisterGlobalExpedited = 1 << 4
)

// registerFences registers this process for MEMBARRIER_CMD_GLOBAL_EXPEDITED
// and reports whether it could: then a revoker's revokeFence makes every
// processor running this process execute a full barrier, and this
// process's bias holders need none of their own.
func registerFences() bool {
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, mbQuery, 0, 0)
	want := uintptr(mbGlobalExpedited | mbRegisterGlobalExpedited)
	if e != 0 || r&want != want {
		return false
	}
	_, _, e = unix.Syscall(unix.SYS_MEMBARRIER, mbRegisterGlobalExpedited, 0, 0)
	return e == 0
}

// revokeFence is the revoker's half of the asymmetric fence: after it,
// every store a registered process made before it is visible, or that
// process's later loads see the revoker's stores before it. A process
// that could not register makes its bias holders' stores full barriers
// (side.fenced), so it needs nothing. If the call fails here (it cannot
// where registering worked, unless a filter forbids it to this process
// alone), it waits a millisecond instead: far longer than a store stays
// in a processor's store buffer.
func revokeFence() {
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, mbGlobalExpedited, 0, 0); e != 0 {
		time.Sleep(time.Millisecond)
	}
}
