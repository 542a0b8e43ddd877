package lock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// CondSize is the size in bytes of a Cond (its alignment is 8).
const CondSize = 8

const condWaiterOne = 1 << 32 // the waiter count is the high half

// Cond is a condition variable that may live in memory shared between
// processes, used with a Mutex, like Python's multiprocessing.Condition.
// A Cond holds no reference to its Mutex (a pointer means nothing in another
// process): Wait takes it as an argument, and every waiter of one Cond must
// use the same Mutex.
//
// The zero value is a Cond with no waiters. A Cond is one 64-bit word with no
// pointers (a sequence number, the futex word, and a waiter count) and must
// not be copied after first use.
//
// Wait may return without a Signal or Broadcast (a spurious wake-up), and
// another process may change the condition between the Signal and the return
// of Wait: always wait in a loop that re-checks the condition,
//
//	for !condition() {
//		if err := c.Wait(m); err != nil { ... }
//	}
//
// A Signal or Broadcast happens before the return of the Waits it wakes. A
// process that dies while waiting only leaves the waiter count too high (a
// later Signal makes a futex call that wakes nobody). A process that dies
// holding the Mutex is handled by the Mutex: the Wait that re-locks it
// returns ErrOwnerDead. A process that dies before it could Signal leaves
// the waiters asleep: give WaitContext a deadline when that can happen.
type Cond struct {
	_ noCopy
	v atomic.Uint64 // waiters<<32 | sequence
}

func (c *Cond) key() *uint32 { return lowHalf(unsafe.Pointer(&c.v)) }

// Wait unlocks m, which the caller's process must hold, waits for a Signal or
// Broadcast, and locks m again before it returns. It returns nil, or the error
// of re-locking m (ErrOwnerDead: the caller holds m and must repair;
// ErrNotRecoverable: the caller does not hold m). If m is not held by the
// caller's process, Wait returns an error wrapping ErrNotOwner at once.
func (c *Cond) Wait(m *Mutex) error { return c.wait(context.Background(), m) }

// WaitContext is Wait with a deadline or cancellation: if ctx is done first
// it re-locks m and returns an error wrapping ctx.Err(). Like Wait, it always
// returns with m locked, unless the error wraps ErrNotOwner or
// ErrNotRecoverable.
func (c *Cond) WaitContext(ctx context.Context, m *Mutex) error { return c.wait(ctx, m) }

func (c *Cond) wait(ctx context.Context, m *Mutex) error {
	if w := m.w.Load(); w&ownerMask != self {
		return fmt.Errorf("wait on cond with a mutex held by process %d: %w", ownerPID(w), ErrNotOwner)
	}
	seq := uint32(c.v.Add(condWaiterOne))
	defer c.v.Add(^uint64(condWaiterOne - 1)) // minus one waiter
	if err := m.Unlock(); err != nil {
		return err
	}
	werr := c.sleep(ctx, seq)
	if err := m.Lock(); err != nil {
		if werr != nil && errors.Is(err, ErrOwnerDead) {
			return errors.Join(err, werr)
		}
		return err
	}
	return werr
}

// sleep waits until the sequence number moves past seq or ctx is done.
func (c *Cond) sleep(ctx context.Context, seq uint32) error {
	var wt waiter
	wt.arm(ctx, c.key())
	defer wt.disarm()
	for uint32(c.v.Load()) == seq {
		if err := wt.err(); err != nil {
			return fmt.Errorf("wait on cond: %w", err)
		}
		if err := wt.sleep("wait on cond", c.key(), seq, checkInterval); err != nil {
			return err
		}
	}
	return nil
}

// Signal wakes one process waiting on c, if there is any. The caller need not
// hold the Mutex.
func (c *Cond) Signal() { c.wake(1) }

// Broadcast wakes every process waiting on c. The caller need not hold the
// Mutex.
func (c *Cond) Broadcast() { c.wake(math.MaxInt32) }

func (c *Cond) wake(n int) {
	for {
		w := c.v.Load()
		// Advance the sequence in the low half only: no carry into the count.
		if c.v.CompareAndSwap(w, w&^0xFFFF_FFFF|uint64(uint32(w)+1)) {
			if w>>32 != 0 {
				_, _ = futex.Wake(c.key(), n)
			}
			return
		}
	}
}
