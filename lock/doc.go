// Package lock provides synchronization primitives that live in memory shared
// between processes: a robust Mutex (an owner that dies holding it never
// deadlocks the others), and more to come.
//
// Every primitive is a small fixed-size value with no pointers, 8-byte
// aligned, whose zero value is ready to use (see each type). Place one inside
// a shared mapping with Place; processes that map the same file at the same
// offset share it. A primitive must not be copied after first use.
//
// # Mutex
//
// A Mutex is one 64-bit word. Its low 32 bits are the futex word: the owner's
// pid and three flags (waiters, inconsistent, not recoverable); its high 32
// bits are a tag of the owner's incarnation (the low 32 bits of its start time
// in clock ticks since boot), so that a reused pid is not taken for the
// original owner. Lock is a single compare-and-swap from 0 to the caller's
// owner word, so the owner is recorded in the same atomic step as the
// acquisition: there is no moment when the Mutex is locked and ownerless.
// Unlock is a compare-and-swap back to 0; only when the waiters flag is set
// does it also make a futex wake system call.
//
// A contended Lock spins for at most 20 µs, then sets the waiters flag and
// sleeps on the futex word (FUTEX_WAIT without the private flag) for at most
// 50 ms at a time. Each time 50 ms pass, it checks that the owner is alive:
// the pid exists, is not a zombie, and has the recorded start time. If the
// owner is dead the waiter replaces the dead owner's word with its own, marked
// inconsistent, and returns ErrOwnerDead: a waiter learns of a death within
// about 50 ms, and a Lock that starts after the death within about 50 ms too.
// The kernel's robust-futex list cannot be used: it is per thread, and
// goroutines move between threads.
//
// The caller that gets ErrOwnerDead holds the lock; it repairs the protected
// state and calls Consistent before Unlock. If it unlocks without Consistent,
// the Mutex becomes not recoverable: every later Lock fails with
// ErrNotRecoverable, like a POSIX robust mutex. Reset clears that state when
// no process uses the Mutex.
//
// All processes sharing a primitive must run in the same pid namespace.
package lock
