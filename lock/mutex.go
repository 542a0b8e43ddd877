package lock

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// MutexSize is the size in bytes of a Mutex (its alignment is 8).
const MutexSize = 8

// Mutex is a robust mutual-exclusion lock that may live in memory shared
// between processes. Its owner is a process: any goroutine of the owning
// process may unlock it, and a goroutine of the owning process that locks it
// again waits like any other (it is not reentrant).
//
// The zero value is an unlocked Mutex. A Mutex is one 64-bit word with no
// pointers; place it in a shared mapping with Place, or embed it in a struct
// at an 8-byte aligned offset. It must not be copied after first use (the copy
// would be a different lock).
//
// An Unlock happens before the next Lock that acquires the Mutex, also across
// processes. If the owning process dies while holding the Mutex, a waiting or
// later locker gets the lock together with ErrOwnerDead, within about 50 ms of
// the death (see the package documentation).
type Mutex struct {
	_ noCopy
	w atomic.Uint64 // owner word: tag<<32 | flags | pid; 0 when unlocked
}

// spinLimit bounds how long a contended Lock, Acquire or Barrier.Wait spins
// before it sleeps; see the package documentation for the choice. It is a
// variable only so that benchmarks can measure the cost of not spinning.
var spinLimit = 20 * time.Microsecond

// Timing of the slow paths; see the package documentation for the reasons.
const (
	// checkInterval is the longest a waiter sleeps before it re-checks that
	// the owner (or a barrier party) is alive.
	checkInterval = 50 * time.Millisecond
)

func (m *Mutex) key() *uint32 { return lowHalf(unsafe.Pointer(&m.w)) }

// Lock locks m, waiting as long as needed. It returns nil when the caller
// now holds m; an error wrapping ErrOwnerDead when the caller holds m but the
// previous owner died holding it (repair, then call Consistent); or an error
// wrapping ErrNotRecoverable, in which case the caller does not hold m.
func (m *Mutex) Lock() error {
	if m.w.CompareAndSwap(0, self) {
		return nil
	}
	return m.lockSlow(context.Background(), "mutex")
}

// LockContext is Lock with a deadline or cancellation: if ctx is done before
// m could be locked it returns an error wrapping ctx.Err() and the caller does
// not hold m. An uncontended m is locked even if ctx is already done.
func (m *Mutex) LockContext(ctx context.Context) error {
	if m.w.CompareAndSwap(0, self) {
		return nil
	}
	return m.lockSlow(ctx, "mutex")
}

// TryLock locks m if it is free, without waiting. It reports whether the
// caller now holds m. If the owner of m is dead, TryLock takes m over and
// returns true with an error wrapping ErrOwnerDead; if m is not recoverable it
// returns false with an error wrapping ErrNotRecoverable.
func (m *Mutex) TryLock() (bool, error) { return m.tryLock("mutex") }

// tryLock is TryLock for the primitive named what (a Mutex, or the Mutex
// inside another primitive), which its errors name.
func (m *Mutex) tryLock(what string) (bool, error) {
	if m.w.CompareAndSwap(0, self) {
		return true, nil
	}
	for {
		w := m.w.Load()
		switch {
		case w == 0:
			if m.w.CompareAndSwap(0, self) {
				return true, nil
			}
			return false, nil
		case uint32(w)&flagNotRecoverable != 0:
			return false, fmt.Errorf("trylock %s: %w", what, ErrNotRecoverable)
		case ownerAliveCached(w):
			return false, nil
		}
		if err := m.takeOver(w); err != nil {
			return true, err
		}
	}
}

// lockSlow is the contended path of Lock: spin briefly, then sleep on the
// futex word, re-checking the owner's liveness at least every checkInterval.
// Its errors name the primitive what.
func (m *Mutex) lockSlow(ctx context.Context, what string) error {
	first := m.w.Load()
	// Phase 1: spin while the owner is likely to release soon.
	switch m.spinLock() {
	case spinAcquired:
		return nil
	case spinNotRecoverable:
		return fmt.Errorf("lock %s: %w", what, ErrNotRecoverable)
	}

	// Phase 2: sleep. Having slept, we cannot know whether other waiters
	// remain, so we acquire with the waiters bit set (the unlocker then pays
	// one futex wake, which may find nobody).
	var wt waiter
	wt.arm(ctx, m.key())
	defer wt.disarm()
	lastCheck := nanotime()
	if w := m.w.Load(); w != 0 && w&ownerMask == first&ownerMask && !ownerAliveCached(w) {
		// One owner held it all through the spin and is not known to be
		// alive: it may have died before we came, so look now (below)
		// rather than after a first sleep. A live owner found so within
		// the last aliveCacheTTL costs no /proc read.
		lastCheck -= int64(checkInterval)
	}
	for {
		w := m.w.Load()
		if w == 0 {
			if m.w.CompareAndSwap(0, self|uint64(flagWaiters)) {
				return nil
			}
			continue
		}
		low := uint32(w)
		if low&flagNotRecoverable != 0 {
			return fmt.Errorf("lock %s: %w", what, ErrNotRecoverable)
		}
		if err := wt.err(); err != nil {
			return fmt.Errorf("lock %s: %w", what, err)
		}
		now := nanotime()
		if now-lastCheck >= int64(checkInterval) {
			lastCheck = now
			if !ownerAlive(w) {
				if err := m.takeOver(w); err != nil {
					return err
				}
				continue // the word changed under us: look again
			}
		}
		if low&flagWaiters == 0 {
			if !m.w.CompareAndSwap(w, w|uint64(flagWaiters)) {
				continue
			}
			low |= flagWaiters
		}
		if err := wt.sleep("lock "+what, m.key(), low, time.Duration(lastCheck+int64(checkInterval)-now)); err != nil {
			return err
		}
	}
}

// Outcomes of spinLock.
const (
	spinTimedOut = iota
	spinAcquired
	spinNotRecoverable
)

// spinLock polls m for up to spinLimit and takes it if it sees it free. The
// polls back off exponentially (see backoff): a poll reads the owner's cache
// line, and an owner that locks and unlocks in a loop pays for every read
// with a cache miss on its next compare-and-swap, and loses the Mutex to the
// spinner whenever a read finds it free. Few, growing gaps keep those costs
// low while a Mutex held for a short critical section is still taken within
// a fraction of a microsecond of its release.
func (m *Mutex) spinLock() int {
	deadline := nanotime() + int64(spinLimit)
	for i := 0; ; i++ {
		w := m.w.Load()
		if w == 0 {
			if m.w.CompareAndSwap(0, self) {
				return spinAcquired
			}
			continue
		}
		if uint32(w)&flagNotRecoverable != 0 {
			return spinNotRecoverable
		}
		if nanotime() > deadline {
			return spinTimedOut
		}
		backoff(i)
	}
}

// takeOver replaces the dead owner's word w with the caller as the owner of
// an inconsistent mutex, keeping the waiters bit. It returns an error wrapping
// ErrOwnerDead when the caller took the lock, and nil when another process
// took it first (or the word no longer names the dead owner).
func (m *Mutex) takeOver(w uint64) error {
	for {
		nw := self | uint64(flagInconsistent) | uint64(uint32(w)&flagWaiters)
		if m.w.CompareAndSwap(w, nw) {
			return ownerDead(w)
		}
		// Retry while only the flags changed (a waiter set the waiters bit).
		cur := m.w.Load()
		if cur == 0 || cur&ownerMask != w&ownerMask || uint32(cur)&flagNotRecoverable != 0 {
			return nil
		}
		w = cur
	}
}

// ownerDead is the error of a takeover of the word w, the word the caller
// replaced: it names the dead owner w recorded. The owner is the pid in w,
// read in the same compare-and-swap that took the lock, so it is the process
// that held it, not a later one. Two cases say more:
//
//   - w was already inconsistent: the dead owner had itself taken the lock
//     over from an earlier dead owner and died before calling Consistent.
//     The earlier owner's pid was overwritten by that takeover and is not
//     known any more; the error says there was one (or a chain of them), so
//     that the repair covers every half-done update.
//   - w names no process (pid 0 without the not-recoverable bit, which no
//     Lock writes: a damaged word, as in a persistent segment written by
//     something else): the owner is unknown, and the error says so rather
//     than naming process 0.
func ownerDead(w uint64) error {
	pid := ownerPID(w)
	switch {
	case pid == 0:
		return fmt.Errorf("%w (owner unknown: the lock word named no process)", ErrOwnerDead)
	case uint32(w)&flagInconsistent != 0:
		return fmt.Errorf("%w (process %d, which had itself taken the lock over from a dead owner and died before calling Consistent)", ErrOwnerDead, pid)
	}
	return fmt.Errorf("%w (process %d)", ErrOwnerDead, pid)
}

// Unlock unlocks m. It returns an error wrapping ErrNotOwner (and leaves m
// alone) when another process holds m, and an error wrapping ErrNotRecoverable
// when m was inconsistent (its previous owner died) and Consistent was not
// called: m is then released into the not-recoverable state. Unlock of an
// unlocked Mutex is a programming error and panics with
// "lock: unlock of unlocked Mutex", like sync.Mutex.
func (m *Mutex) Unlock() error {
	if m.w.CompareAndSwap(self, 0) {
		return nil
	}
	return m.unlockSlow("mutex")
}

// unlockSlow is the rest of Unlock; its errors name the primitive what.
func (m *Mutex) unlockSlow(what string) error {
	for {
		w := m.w.Load()
		low := uint32(w)
		switch {
		case w == 0:
			panic("lock: unlock of unlocked Mutex")
		case low&flagNotRecoverable != 0:
			return fmt.Errorf("unlock %s: %w", what, ErrNotRecoverable)
		case w&ownerMask != self:
			return fmt.Errorf("unlock %s held by process %d: %w", what, ownerPID(w), ErrNotOwner)
		case low&flagInconsistent != 0:
			if m.w.CompareAndSwap(w, uint64(flagNotRecoverable)) {
				_, _ = futex.Wake(m.key(), math.MaxInt32)
				return fmt.Errorf("unlock inconsistent %s without Consistent: %w", what, ErrNotRecoverable)
			}
		default:
			if m.w.CompareAndSwap(w, 0) {
				if low&flagWaiters != 0 {
					_, _ = futex.Wake(m.key(), 1)
				}
				return nil
			}
		}
	}
}

// Consistent marks m, which the caller holds after ErrOwnerDead, as
// consistent again: the caller has repaired the protected state, and the next
// Unlock releases m normally. It returns nil if m is already consistent, and
// an error wrapping ErrNotOwner if the caller's process does not hold m.
func (m *Mutex) Consistent() error { return m.consistent("mutex") }

// consistent is Consistent; its errors name the primitive what.
func (m *Mutex) consistent(what string) error {
	for {
		w := m.w.Load()
		low := uint32(w)
		switch {
		case low&flagNotRecoverable != 0:
			return fmt.Errorf("mark %s consistent: %w", what, ErrNotRecoverable)
		case w&ownerMask != self:
			return fmt.Errorf("mark %s held by process %d consistent: %w", what, ownerPID(w), ErrNotOwner)
		case low&flagInconsistent == 0:
			return nil
		}
		if m.w.CompareAndSwap(w, w&^uint64(flagInconsistent)) {
			return nil
		}
	}
}

// Owner returns the pid of the process holding m, or 0 if m is unlocked or
// not recoverable. The answer may be stale by the time it is used; it is for
// diagnostics.
func (m *Mutex) Owner() int { return ownerPID(m.w.Load()) }

// Reset forces m back to the unlocked state, whatever its state, and wakes
// any waiters. It is for recovering a not-recoverable Mutex when no process
// uses it (for example in a persistent segment after every user exited); a
// process that believes it holds m when Reset is called loses mutual
// exclusion.
func (m *Mutex) Reset() {
	m.w.Store(0)
	_, _ = futex.Wake(m.key(), math.MaxInt32)
}
