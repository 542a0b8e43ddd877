//go:build linux

package life

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A worker's life word tells the coordinator that the worker process has
// exited as soon as the kernel knows it, before the coordinator's goroutine
// that waits for the process has run: the word is the one entry of the
// robust-futex list of a thread the worker dedicates to it. The thread
// stores its thread id in the word; when the thread exits — the process
// exits, by any signal or status, and every thread goes — the kernel sets
// FUTEX_OWNER_DIED in the word (exit_robust_list, run for each exiting
// thread before the process can be waited for). The thread never exits
// while the process lives: it is locked to its goroutine, which never
// returns.
//
// The list belongs to the kernel's idea of that one thread, so it does not
// clash with the robust mutexes of package lock (which use no robust list:
// goroutines move between threads) nor with a cgo program's glibc, whose
// lists belong to the threads it made.

// robustList mirrors struct robust_list_head of linux/futex.h: the list
// (a pointer to its first entry, or to itself when empty), the offset from
// an entry to its futex word, and the entry being changed (none here).
type robustList struct {
	next    uintptr
	offset  int64
	pending uintptr
}

// The list and its one entry live in this process's memory for its whole
// life (the kernel reads them when the thread exits); the entry points
// back at the list head, ending the list.
var life struct {
	head  robustList
	entry uintptr
}

// Arm makes word the life word of this process (see above) and
// returns once it holds the dedicated thread's id.
func Arm(word *atomic.Uint32) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's exit is the process's
		life.entry = uintptr(unsafe.Pointer(&life.head))
		life.head = robustList{
			next:   uintptr(unsafe.Pointer(&life.entry)),
			offset: int64(uintptr(unsafe.Pointer(word)) - uintptr(unsafe.Pointer(&life.entry))),
		}
		_, _, errno := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(&life.head)), unsafe.Sizeof(life.head), 0)
		if errno != 0 {
			done <- errno
			return
		}
		word.Store(uint32(unix.Gettid()))
		done <- nil
		select {} // hold the thread
	}()
	return <-done
}

// Died is the bit the kernel sets in a life word when its thread exits
// (FUTEX_OWNER_DIED of linux/futex.h).
const Died = 0x40000000
