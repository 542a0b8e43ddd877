package lock

import "errors"

// The sentinel errors below say what went wrong, without a package prefix;
// every error this package returns for one of these causes wraps it (test
// with errors.Is), adding the operation and what it was done on, as in
// "unlock mutex held by process 4242: mutex is not held by this process".
// Panics, which only misuse causes, carry the "lock: " prefix.

// ErrOwnerDead is returned by Lock, LockContext and TryLock when the process
// that held the Mutex died while holding it. The caller now owns the Mutex,
// which is marked inconsistent: it must repair the protected state, call
// Consistent, and only then Unlock. Unlocking without Consistent makes the
// Mutex permanently unusable (ErrNotRecoverable). The error names the dead
// owner, "(process PID)", or says that its owner is unknown when the lock
// word named no process (see the package documentation, Owner death).
var ErrOwnerDead = errors.New("previous owner died holding the lock")

// ErrNotRecoverable is returned when a Mutex is in the not-recoverable state:
// an owner got ErrOwnerDead and unlocked without calling Consistent, so the
// state the Mutex protects cannot be trusted. Every later Lock and TryLock
// fails with this error; only Reset (when no process uses the Mutex) clears it.
var ErrNotRecoverable = errors.New("mutex is not recoverable")

// ErrNotOwner is returned when a process unlocks (or marks consistent) a Mutex
// that another process holds, or waits on a Cond with a Mutex it does not hold.
var ErrNotOwner = errors.New("mutex is not held by this process")

// ErrBrokenBarrier is returned by Barrier.Wait when the barrier is broken: a
// party timed out, was cancelled or died, or the barrier was aborted or reset
// while the caller waited. A broken barrier stays broken until Reset.
var ErrBrokenBarrier = errors.New("barrier is broken")

// ErrInvalid is returned when an argument or a primitive's state is out of
// range: a negative count, a Semaphore bound below its count, a Barrier with
// fewer than one party or not initialized; and by a Shared handle's GobDecode
// when the bytes are not an encoded handle of that primitive.
var ErrInvalid = errors.New("invalid argument")

// ErrOverflow is returned by Semaphore.Release when releasing would raise the
// count above the Semaphore's bound (or above MaxSemaphoreCount).
var ErrOverflow = errors.New("semaphore released too many times")

// ErrMisaligned is returned by Place when the requested offset is not aligned
// for the primitive (all primitives need 8-byte alignment of the address).
var ErrMisaligned = errors.New("misaligned placement")

// ErrOutOfRange is returned by Place when the primitive does not fit in the
// buffer at the requested offset.
var ErrOutOfRange = errors.New("placement out of range")
