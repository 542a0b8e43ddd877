// Package lock provides synchronization primitives that live in memory shared
// between processes, like the Lock, RLock, Semaphore, Barrier, Event and
// Condition of Python's multiprocessing (and a reader/writer lock), with one
// difference that matters: a process that dies holding a Mutex never
// deadlocks the others.
//
//	type       size  zero value
//	Mutex        8   unlocked
//	RWMutex    256   unlocked
//	Semaphore    8   count 0, no bound (Init sets a count and a bound)
//	Event        8   clear
//	Cond         8   no waiters
//	Barrier    256   unusable: call Init(parties)
//	RLock       16   unlocked
//
// # Placement and copying
//
// Every primitive is a fixed-size struct of atomic words with no pointers,
// 8-byte aligned, so the same bytes mean the same thing in every process that
// maps them. Place returns a *T at a checked, aligned offset of a byte slice
// (an shm segment's lock area, or any MAP_SHARED mapping); processes that map
// the same file place the same primitive at the same offset. The primitives
// also work on the Go heap, between goroutines. A primitive must not be
// copied after first use (the copy is another lock); go vet reports copies.
// Semaphore and Barrier have an Init method, to be called once, by one
// process, before the primitive is shared; the others need no initialization
// beyond zeroed memory, which a fresh mapping provides.
//
// The word layouts (the Mutex's is shown below, the others are in their type
// documentation) are part of the segment format: a persistent segment written
// by one version of shmpar can be locked by another.
//
// # Passing primitives to other processes
//
// A primitive is the lock's memory, not a reference to it: a *Mutex decoded in
// another process would point to memory that process allocated, so the
// primitives refuse to be encoded (their GobEncode returns an error that says
// what to use). What crosses is a Shared handle. NewMutex, NewRWMutex,
// NewSemaphore, NewEvent, NewBarrier, NewCond and NewRLock each create a
// primitive in an anonymous segment of its own (a memfd: 8 KiB of memory and
// one file descriptor in the creating process) and return a handle,
// *SharedMutex and so on, whose embedded pointer gives the primitive's
// methods. Put the handle in the arguments of a process (engine/process), a
// pool task (engine/pool) or a For kernel (engine), or in any gob stream: it
// encodes as a reference to its segment and the primitive's offset there, and
// the receiving process attaches the segment (once per process, through
// shm.AttachRef) and gets the same primitive. This is Python's Lock(),
// Event(), Semaphore(n), Barrier(n), Condition() and RLock() passed to a
// Process. The creator keeps the handle open until the receivers have decoded
// it (Start has returned, the Map or For has returned), then closes it; the
// memory lives on while any process maps it. A primitive placed with Place in
// a segment of the program's own (next to an array, in a queue) is reached in
// another process by passing that segment's own handle (the Array, the Queue)
// instead; that is also the way to many locks, which should not each cost a
// segment.
//
// # Ordering
//
// All state changes are sync/atomic operations on the shared words, which are
// sequentially consistent in the Go memory model and are the same hardware
// instructions (LOCK CMPXCHG and friends) whichever process runs them. So,
// also across processes: an Unlock happens before the Lock that next acquires
// the Mutex; a Release happens before the Acquire that takes its unit; a Set
// happens before the return of the Waits it ends; a Signal or Broadcast
// happens before the return of the Waits it wakes; everything a party did
// before Barrier.Wait happens before every party's return from that round.
// Futex wake-ups carry no ordering of their own: a woken waiter always
// re-reads the word.
//
// # Mutex
//
// A Mutex is one 64-bit word; its low 32 bits are the futex word (at byte
// offset 0 on little-endian machines):
//
//	bits  0..28  pid of the owning process (0: unlocked)
//	bit   29     not recoverable
//	bit   30     inconsistent: the previous owner died; the owner must repair
//	bit   31     waiters: a process may sleep on the futex word
//	bits 32..63  tag: low 32 bits of the owner's start time (clock ticks
//	             since boot), which tells a reused pid from the original
//
// The owner is a process: any goroutine of it may unlock, and another
// goroutine of it that calls Lock waits like any other process. Lock is one
// compare-and-swap from 0 to the caller's pid and tag, so the owner is
// recorded in the same atomic step as the acquisition: there is no moment
// when the Mutex is locked and ownerless, and a death at any instant leaves
// either a free Mutex or one that names its dead owner. Unlock is a
// compare-and-swap back to 0; only when the waiters bit is set does it also
// make a FUTEX_WAKE system call. Neither path makes a system call when there
// is no contention (about 5 ns here, like sync.Mutex).
//
// A contended Lock first spins for up to 20 µs, then sleeps. Spinning, it
// re-reads the word after 32 PAUSE instructions (about 0.6 µs on the
// development machine), then after twice as many each time, up to 256 (about
// 4.6 µs): about seven reads in all. The gaps matter more than the spin's
// length: every read takes the word's cache line from the owner, whose next
// compare-and-swap then misses, and a read that finds the Mutex free hands it
// over, cutting the owner's run of critical sections short. Reading it every
// 0.3 µs, as an earlier version did, left two processes that lock, increment
// and unlock in a loop less than half the throughput they get now
// (docs/BENCHMARKS.md). Sleeping is FUTEX_WAIT on the word, after setting the
// waiters bit, without the private flag since the word is shared between
// processes. Sleeping and being woken costs a process from a few µs to about
// 40 µs on these 2-core VMs, more than the critical sections a shared counter
// or array update needs, so a short spin usually wins the lock without a
// sleep, and the unlocker then makes no system call either; spinning longer
// than about the cost of a wake-up cannot pay off and burns a core another
// process may need, hence a bound of the same order. Unlock makes the
// FUTEX_WAKE call only when the waiters bit is set (the word's third state, as
// in Go's runtime lock), so locking and unlocking without a sleeper never
// enter the kernel. A waiter that has slept takes the lock with the waiters
// bit set, because it cannot know whether others still sleep: the next Unlock
// then makes one wake-up call that may find nobody. The Mutex is not fair: a
// spinner may overtake a sleeper, and an owner that locks again at once
// usually keeps the Mutex for many critical sections in a row.
//
// # Owner death
//
// The kernel's robust-futex list cannot be used: it is per thread, and
// goroutines move between threads (and the owner is a process anyway). The
// detection is the waiters': a sleeping waiter wakes at least every 50 ms and
// checks that the owner recorded in the word is alive, through
// /proc/PID/stat: the pid exists, is not a zombie, and has the recorded start
// time. A dead owner's word is replaced, by compare-and-swap, with the
// waiter's own pid and tag, marked inconsistent (keeping the waiters bit), and
// that waiter returns ErrOwnerDead: it holds the lock, within about 50 ms of
// the death. A Lock that starts after the death finds out before its first
// sleep: when one owner held the word all through its spin and was not
// found alive in the last 10 ms, it looks at once (TryLock always looks at
// once). Exactly one waiter wins the replacement; the others keep waiting
// for it. A process that exits normally
// while holding a Mutex is dead too.
//
// The error names the dead owner: "(process PID)", the pid read from the
// word in the same compare-and-swap that took it over, so it is the process
// that held the Mutex when it died and never a later or earlier one. Two
// cases say more. If the dead owner had itself taken the Mutex over from a
// dead owner and died before calling Consistent (before its caller could
// even see the error), the word was still inconsistent: the error names it
// and says so ("which had itself taken the lock over from a dead owner"),
// since the state may hold half-done updates of both. The earlier owner's
// pid was overwritten by that takeover and is not reported: a death is
// reported by pid exactly once, unless the process that took the lock over
// from it dies before its caller got the error, and then the next error says
// that such a death happened. A word that names no process (pid 0 and not
// the not-recoverable state, which no Lock writes: a damaged word in a
// persistent segment) cannot be unlocked by anyone, so it is taken over like
// a dead owner's, and the error says "owner unknown" instead of naming a pid.
//
// The caller that got ErrOwnerDead repairs the protected state and calls
// Consistent, then Unlock. If it unlocks without Consistent, the Mutex becomes
// not recoverable: every later Lock and TryLock fails with ErrNotRecoverable,
// in every process, like a POSIX robust mutex (Reset clears that state when no
// process uses the Mutex). If the repairing process dies too, the next locker
// gets ErrOwnerDead again.
//
// When liveness cannot be determined (no /proc, an unexpected error) the
// owner counts as alive: a live owner's lock is never taken. All processes
// that share a primitive must be in the same pid namespace.
//
// Misuse: Unlock or Consistent by a process that does not hold the Mutex
// returns an error wrapping ErrNotOwner and changes nothing. Unlock of an
// unlocked Mutex is a programming error in the caller and panics with
// "lock: unlock of unlocked Mutex", like sync.Mutex, since it happens on the
// hot path and its cause is a bug, not bad input. RLock follows the same
// rule, with a Token that does not hold it in place of a process: an error
// wrapping ErrNotOwner while it is held, a panic once it is unlocked (so an
// Unlock more than it was locked panics, unless another holder already took
// it).
//
// # Calls and errors
//
// The blocking calls come in pairs, the second taking a context for a
// deadline or cancellation: Lock and LockContext (Mutex, RLock, RWMutex, and
// RWMutex's RLock and RLockContext), Acquire and AcquireContext, and Wait and
// WaitContext (Barrier, Event, Cond).
//
// A call returns an error exactly when it can fail, so the two Try calls
// differ on purpose. Mutex.TryLock returns (bool, error): taking a Mutex can
// also report that its owner died (the caller now holds it and must repair
// the state, ErrOwnerDead) or that it is not recoverable. Semaphore.
// TryAcquire returns only a bool: a Semaphore has no owner, so taking a unit
// has nothing else to report, and an error that is always nil would only
// teach callers to ignore it.
//
// Error texts name the operation and the primitive, then the sentinel's
// text ("trylock mutex: mutex is not recoverable"); test them with
// errors.Is. Only panics, which misuse causes, start with "lock: ".
//
// # Re-entrant lock
//
// A Mutex is not re-entrant: its owner is a process, and Go has no goroutine
// identity to tell the goroutine that holds it from another goroutine of the
// same process, so a Mutex re-entered by process would let two goroutines
// into the critical section at once. RLock is re-entrant with an explicit
// identity instead: Lock returns a Token, and only a Lock given that Token
// re-enters; a goroutine without it waits like any other process. The
// holder passes the Token down to the code it calls, as it would a context:
//
//	tok, err := r.Lock(0) // the zero Token: wait for the RLock
//	...
//	defer r.Unlock(tok)
//	update(r, tok)        // update calls r.Lock(tok): re-enters at once
//
// Re-entering runs inner code while the outer code may have the protected
// state half-updated; where that is a risk, prefer a Mutex and an unexported
// fooLocked variant that requires the lock, called by locked code directly.
//
// # Process death, per primitive
//
//   - Mutex: detected and recovered as above (ErrOwnerDead, Consistent).
//   - RLock: as a Mutex, at any depth: the next locker gets it at depth 1,
//     with a new Token and ErrOwnerDead.
//   - RWMutex: a dead writer is reported like a Mutex owner (the next Lock
//     or RLock returns ErrOwnerDead and holds it for writing); a dead
//     reader's read locks are dropped by the next writer: at once if it died
//     before the writer came and no live reader left while the writer spun,
//     otherwise within about 50 ms.
//     The call that took the lock over returns only once the readers have
//     left (it drops the locks of readers already dead at once, and of
//     those that die while it waits within about 50 ms), so the window in
//     which its process holds the lock inconsistent before its caller sees
//     the error is that wait, not an instant: a process killed in it takes
//     the earlier death's pid with it, and the next taker's error says that
//     it had taken the lock over from a dead owner (as for a Mutex, above).
//   - Semaphore: it has no owner; units held by a dead process are not
//     returned, so the count stays lower. A dead waiter leaves no trace.
//   - Barrier: a process registered with it (on its first Wait, or Join)
//     that dies breaks it for everyone within about 50 ms: waiters get
//     ErrBrokenBarrier instead of waiting for a party that will not come.
//   - Event: a dead process leaves it as it was; waiters wait for another
//     Set, so use WaitContext with a deadline when the setter may die.
//   - Cond: a dead waiter only leaves a waiter count too high (a wasted wake
//     call later); a dead Mutex holder is reported by the re-lock in Wait
//     (ErrOwnerDead); a process that dies before it could Signal leaves the
//     waiters asleep until their context ends.
//
// # Platforms
//
// Linux is the supported platform. Elsewhere the package compiles, and
// uncontended operations work within one process, but any call that would
// sleep, and the New functions (which need an anonymous segment), return an
// error wrapping errors.ErrUnsupported.
//
// # Imports
//
// Besides the standard library lock imports internal/futex, internal/proc
// and shm (and through them golang.org/x/sys). Place puts primitives in any
// byte slice, and array, value, queue and shmap place them in their segments;
// shm serves only the Shared handles, which create, reference and attach
// segments of their own. shm imports no other shmpar package, and engine
// does not import lock.
package lock
