// Package futex wraps the Linux futex system call for words that live in
// memory shared between processes.
//
// Only the operations shmpar needs are offered: Wait, which sleeps while a
// 32-bit word holds an expected value, WaitHeld, the same sleep hidden from
// the Go scheduler (for a worker process's short idle sleeps), and Wake,
// which wakes sleepers on a word.
// Neither uses FUTEX_PRIVATE_FLAG: the word may be mapped by several processes,
// and the kernel must key the wait queue on the physical page, not on this
// process's address space.
//
// Spurious wake-ups are allowed and expected: every caller re-checks its
// condition in a loop. On platforms other than Linux every call returns
// errors.ErrUnsupported.
//
// It holds futex_linux.go (the system calls) and futex_other.go (the
// unsupported twins). It imports only golang.org/x/sys and the standard
// library, and is shared by lock, queue and the engine packages: it is the
// one place that makes the futex system call.
package futex
