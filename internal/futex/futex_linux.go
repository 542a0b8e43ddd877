//go:build linux

package futex

import (
	"errors"
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
	return waitResult(e)
}

// WaitHeld is Wait without telling the Go scheduler that the thread blocks:
// the goroutine keeps its P while it sleeps. Use it only for short sleeps
// (timeout must be positive) of a goroutine that has nothing to hand its P
// to, such as a worker process's only running goroutine between two jobs.
//
// The point is the runtime's monitor thread (sysmon). When a thread blocks
// in an ordinary system call in a process with GOMAXPROCS=1, sysmon takes
// its P away after 20 µs and, having found work to do, polls every 20 µs
// again for the next several milliseconds; each poll of that monitor, woken
// on a CPU where a kernel computes, costs the kernel a context switch. A
// worker that slept through a gap of a few milliseconds between two jobs
// would pay for it during the next job, 5-10 % of a 20 ms job on a small
// virtual machine. A held sleep is invisible to sysmon.
//
// The cost: other goroutines of the process cannot run while the P is held
// (sysmon still preempts a goroutine that holds its P for 10 ms, which
// interrupts the sleep with a signal; WaitHeld then returns nil like Wait
// after a signal), and a stop-the-world garbage collection waits for the
// sleep to end or be interrupted.
func WaitHeld(addr *uint32, val uint32, timeout time.Duration) error {
	if timeout <= 0 {
		return errors.New("futex WaitHeld: the timeout must be positive")
	}
	ts := unix.NsecToTimespec(int64(timeout))
	_, _, e := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), opWait,
		uintptr(val), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return waitResult(e)
}

func waitResult(e unix.Errno) error {
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
