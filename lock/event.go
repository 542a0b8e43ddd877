package lock

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// EventSize is the size in bytes of an Event (its alignment is 8).
const EventSize = 8

const (
	eventSet     uint32 = 1 << 0
	eventWaiters uint32 = 1 << 1
	eventGenOne  uint32 = 1 << 2 // generation counter, bits 2..31
)

// Event is a flag that processes can wait on, like Python's
// multiprocessing.Event: Set raises it and wakes every waiter, Clear lowers
// it, Wait waits until it is raised.
//
// The zero value is a clear Event. An Event is one 64-bit word with no
// pointers (flag, waiters flag and a generation counter in the futex half) and
// must not be copied after first use.
//
// Set happens before the return of every Wait that it ends, also across
// processes. A Wait that is under way when Set is called returns even if
// Clear follows at once (the generation counter records the Set). A process
// that dies leaves the Event as it was; waiters keep waiting for another
// process to Set it, so use WaitContext with a deadline when the setter may
// die.
type Event struct {
	_ noCopy
	v atomic.Uint64
}

func (e *Event) key() *uint32 { return lowHalf(unsafe.Pointer(&e.v)) }

// Set raises the event and wakes all waiters. Setting a set Event does
// nothing.
func (e *Event) Set() {
	for {
		w := e.v.Load()
		low := uint32(w)
		if low&eventSet != 0 {
			return
		}
		nl := (low&^eventWaiters | eventSet) + eventGenOne
		if e.v.CompareAndSwap(w, w&^0xFFFF_FFFF|uint64(nl)) {
			if low&eventWaiters != 0 {
				_, _ = futex.Wake(e.key(), math.MaxInt32)
			}
			return
		}
	}
}

// Clear lowers the event. Clearing a clear Event does nothing.
func (e *Event) Clear() {
	for {
		w := e.v.Load()
		if uint32(w)&eventSet == 0 || e.v.CompareAndSwap(w, w&^uint64(eventSet)) {
			return
		}
	}
}

// IsSet reports whether the event is set.
func (e *Event) IsSet() bool { return uint32(e.v.Load())&eventSet != 0 }

// Wait waits, as long as needed, until the event is set, or was set at any
// time after Wait was called. It fails only where futexes are not supported.
func (e *Event) Wait() error { return e.wait(context.Background()) }

// WaitContext is Wait with a deadline or cancellation: it returns nil once
// the event is set (or was set at any time after the call), or an error
// wrapping ctx.Err() if ctx is done first. A set Event returns nil at once
// even if ctx is done.
func (e *Event) WaitContext(ctx context.Context) error { return e.wait(ctx) }

func (e *Event) wait(ctx context.Context) error {
	w := e.v.Load()
	if uint32(w)&eventSet != 0 {
		return nil
	}
	gen := uint32(w) >> 2
	var wt waiter
	wt.arm(ctx, e.key())
	defer wt.disarm()
	for {
		low := uint32(e.v.Load())
		if low&eventSet != 0 || low>>2 != gen {
			return nil
		}
		if err := wt.err(); err != nil {
			return fmt.Errorf("wait for event: %w", err)
		}
		if low&eventWaiters == 0 {
			w := e.v.Load()
			if uint32(w) != low || !e.v.CompareAndSwap(w, w|uint64(eventWaiters)) {
				continue
			}
			low |= eventWaiters
		}
		if err := wt.sleep("wait for event", e.key(), low, checkInterval); err != nil {
			return err
		}
	}
}
