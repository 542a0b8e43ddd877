//go:build linux

package futex

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	opWait = 0 // FUTEX_WAIT, shared (no FUTEX_PRIVATE_FLAG)
	opWake = 1 // FUTEX_WAKE, shared
)

// Wait sleeps while *addr == val, for at most timeout (no limit when timeout
// <= 0). It returns nil when woken, when *addr != val on entry, or on a signal;
// ErrTimeout when the timeout elapsed. The caller must re-check its condition.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	var tsp unsafe.Pointer
	var ts unix.Timespec
	if timeout > 0 {
		ts = unix.NsecToTimespec(int64(timeout))
		tsp = unsafe.Pointer(&ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait,
		uintptr(val), uintptr(tsp), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return ErrTimeout
	default:
		return e
	}
}

// Wake wakes at most n processes or threads sleeping on addr and returns how
// many were woken.
func Wake(addr *uint32, n int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWake,
		uintptr(n), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
