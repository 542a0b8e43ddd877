package lock

import (
	"context"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// SemaphoreSize is the size in bytes of a Semaphore (its alignment is 8).
const SemaphoreSize = 8

// MaxSemaphoreCount is the largest count a Semaphore can hold.
const MaxSemaphoreCount = 1<<31 - 1

const semWaiters uint32 = 1 << 31 // in the count half: someone may sleep

// Semaphore is a counting semaphore that may live in memory shared between
// processes, like Python's multiprocessing.Semaphore and BoundedSemaphore.
// Acquire takes one unit, waiting while there is none; Release returns units.
// It has no owner: any process may release what another acquired.
//
// The zero value is a semaphore with count 0 and no bound (a release raises it
// to at most MaxSemaphoreCount). Init sets a starting count and an optional
// bound; call it once, before other processes use the Semaphore. A Semaphore
// is one 64-bit word with no pointers (count and waiters flag in the futex
// half, the bound in the other) and must not be copied after first use.
//
// A Release happens before the Acquire that takes the released unit, also
// across processes. A process that dies holding units does not return them:
// the count stays lower for good (use a Mutex when the holder must be known).
// A process that dies while waiting leaves no trace.
type Semaphore struct {
	_ noCopy
	v atomic.Uint64 // bound<<32 | waiters | count
}

func (s *Semaphore) key() *uint32 { return lowHalf(unsafe.Pointer(&s.v)) }

// Init sets the count to count and the bound to max (0 for none: the count
// may then reach MaxSemaphoreCount). It returns an error wrapping ErrInvalid
// for a negative count or bound, or a count above the bound. Init is not
// atomic with respect to other operations: call it before the Semaphore is
// shared.
func (s *Semaphore) Init(count, max int) error {
	if count < 0 || max < 0 || count > MaxSemaphoreCount || max > MaxSemaphoreCount || (max > 0 && count > max) {
		return fmt.Errorf("init semaphore with count %d and bound %d: %w", count, max, ErrInvalid)
	}
	s.v.Store(uint64(max)<<32 | uint64(count))
	return nil
}

// Value returns the current count (a snapshot, for diagnostics).
func (s *Semaphore) Value() int { return int(uint32(s.v.Load()) &^ semWaiters) }

// Bound returns the bound set by Init, or 0 for none.
func (s *Semaphore) Bound() int { return int(s.v.Load() >> 32) }

// TryAcquire takes one unit if one is available, without waiting, and
// reports whether it did. Unlike Mutex.TryLock it returns no error: a
// Semaphore has no owner whose death it could report (see the package
// documentation, Calls and errors).
func (s *Semaphore) TryAcquire() bool {
	for {
		w := s.v.Load()
		if uint32(w)&^semWaiters == 0 {
			return false
		}
		if s.v.CompareAndSwap(w, w-1) {
			return true
		}
	}
}

// Acquire takes one unit, waiting as long as needed until one is available.
// It fails only where futexes are not supported.
func (s *Semaphore) Acquire() error {
	if s.TryAcquire() {
		return nil
	}
	return s.acquireSlow(context.Background())
}

// AcquireContext is Acquire with a deadline or cancellation: if ctx is done
// before a unit could be taken it returns an error wrapping ctx.Err() and
// takes nothing. An available unit is taken even if ctx is already done.
func (s *Semaphore) AcquireContext(ctx context.Context) error {
	if s.TryAcquire() {
		return nil
	}
	return s.acquireSlow(ctx)
}

func (s *Semaphore) acquireSlow(ctx context.Context) error {
	start := nanotime()
	for i := 0; nanotime()-start <= int64(spinLimit); i++ {
		if s.TryAcquire() {
			return nil
		}
		spin(i)
	}
	var wt waiter
	wt.arm(ctx, s.key())
	defer wt.disarm()
	for {
		w := s.v.Load()
		low := uint32(w)
		if low&^semWaiters != 0 {
			// Having slept, keep the waiters flag: others may still sleep.
			if s.v.CompareAndSwap(w, (w-1)|uint64(semWaiters)) {
				return nil
			}
			continue
		}
		if err := wt.err(); err != nil {
			// We may have consumed a wake-up meant to hand over a unit that
			// is now free again: pass it on.
			if s.Value() > 0 {
				_, _ = futex.Wake(s.key(), 1)
			}
			return fmt.Errorf("acquire semaphore: %w", err)
		}
		if low&semWaiters == 0 {
			if !s.v.CompareAndSwap(w, w|uint64(semWaiters)) {
				continue
			}
			low |= semWaiters
		}
		if err := wt.sleep("acquire semaphore", s.key(), low, checkInterval); err != nil {
			return err
		}
	}
}

// Release returns one unit. See ReleaseN.
func (s *Semaphore) Release() error { return s.ReleaseN(1) }

// ReleaseN returns n units and wakes up to n waiters. It returns an error
// wrapping ErrInvalid for a negative n, and an error wrapping ErrOverflow,
// releasing nothing, when the count would exceed the bound.
func (s *Semaphore) ReleaseN(n int) error {
	if n < 0 || n > MaxSemaphoreCount {
		return fmt.Errorf("release %d units of semaphore: %w", n, ErrInvalid)
	}
	if n == 0 {
		return nil
	}
	for {
		w := s.v.Load()
		count := int(uint32(w) &^ semWaiters)
		bound := int(w >> 32)
		if bound == 0 {
			bound = MaxSemaphoreCount
		}
		if count+n > bound {
			return fmt.Errorf("release %d units of semaphore at count %d: would pass the bound %d: %w",
				n, count, bound, ErrOverflow)
		}
		// Clear the waiters flag: the waiters woken here set it again.
		if s.v.CompareAndSwap(w, w&^0xFFFF_FFFF|uint64(count+n)) {
			if uint32(w)&semWaiters != 0 {
				_, _ = futex.Wake(s.key(), n)
			}
			return nil
		}
	}
}
