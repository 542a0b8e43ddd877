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

// BarrierSize is the size in bytes of a Barrier (its alignment is 8).
const BarrierSize = 256

// BarrierSlots is the number of processes a Barrier watches for death.
const BarrierSlots = 30

const (
	barrierGenMask  uint32 = 1<<30 - 1
	barrierSleepers uint32 = 1 << 30 // someone sleeps on the futex word
	barrierBroken   uint32 = 1 << 31
)

// Barrier makes a fixed number of parties wait for each other, like Python's
// multiprocessing.Barrier: each calls Wait, and all return once the last one
// arrived. It is reusable: the next round (generation) starts at once. The
// parties may be processes, goroutines, or both.
//
// A Barrier breaks, for every party now and in later rounds until Reset, when
// a party's WaitContext times out or is cancelled, when Abort is called, or
// when a process registered with the Barrier dies: every waiter then gets
// ErrBrokenBarrier instead of waiting forever. To watch for deaths the Barrier
// keeps the identities of up to BarrierSlots processes: a process registers
// on its first Wait, or earlier with Join, and unregisters with Leave. A
// waiter checks the registered processes every 50 ms, so a death breaks the
// Barrier within about 50 ms. A registered process that exits without Leave
// counts as dead, even if it exited normally; processes beyond BarrierSlots
// are not watched.
//
// The zero value is not usable: call Init once, before the Barrier is shared.
// A Barrier is BarrierSize bytes with no pointers and must not be copied after
// first use. Everything a party did before its Wait happens before every
// party's return from that round's Wait, also across processes.
type Barrier struct {
	_ noCopy
	// state: arrived<<32 | broken | sleepers | generation; the low half is
	// the futex word.
	state   atomic.Uint64
	parties atomic.Uint32
	_       uint32
	slots   [BarrierSlots]atomic.Uint64 // owner words of registered processes
}

func (b *Barrier) key() *uint32 { return lowHalf(unsafe.Pointer(&b.state)) }

// Init prepares b for the given number of parties (at least 1), clearing any
// previous state and registrations. It returns an error wrapping ErrInvalid
// for a bad party count. Init is not atomic with respect to other operations:
// call it before the Barrier is shared.
func (b *Barrier) Init(parties int) error {
	if parties < 1 || parties > math.MaxInt32 {
		return fmt.Errorf("init barrier with %d parties: %w", parties, ErrInvalid)
	}
	for i := range b.slots {
		b.slots[i].Store(0)
	}
	b.parties.Store(uint32(parties))
	b.state.Store(0)
	return nil
}

// Parties returns the number of parties set by Init (0 before Init).
func (b *Barrier) Parties() int { return int(b.parties.Load()) }

// Waiting returns the number of parties waiting in the current round.
func (b *Barrier) Waiting() int { return int(b.state.Load() >> 32) }

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken() bool { return uint32(b.state.Load())&barrierBroken != 0 }

// Join registers the calling process with b, so that its death breaks b even
// before its first Wait. Joining twice does nothing. It returns an error
// wrapping ErrInvalid when all BarrierSlots slots are taken.
func (b *Barrier) Join() error {
	free := -1
	for i := range b.slots {
		switch b.slots[i].Load() {
		case self:
			return nil
		case 0:
			if free < 0 {
				free = i
			}
		}
	}
	for i := max(free, 0); free >= 0 && i < len(b.slots); i++ {
		if b.slots[i].CompareAndSwap(0, self) {
			return nil
		}
	}
	return fmt.Errorf("join barrier: all %d process slots are taken: %w", BarrierSlots, ErrInvalid)
}

// Leave unregisters the calling process: its exit no longer breaks b. A
// process that is done with a Barrier that others keep using should Leave.
func (b *Barrier) Leave() {
	for i := range b.slots {
		b.slots[i].CompareAndSwap(self, 0)
	}
}

// Wait waits until all parties have called Wait in this round, and returns
// the caller's arrival index in the round (0 for the first to arrive, Parties-1
// for the last, which releases the others). It returns an error wrapping
// ErrBrokenBarrier if the barrier is or becomes broken, and an error wrapping
// ErrInvalid if b was not initialized.
func (b *Barrier) Wait() (int, error) { return b.wait(context.Background()) }

// WaitContext is Wait with a deadline or cancellation. If ctx is done before
// the round completes, the barrier breaks (like a timeout in Python) and
// WaitContext returns an error wrapping both ErrBrokenBarrier and ctx.Err().
func (b *Barrier) WaitContext(ctx context.Context) (int, error) { return b.wait(ctx) }

func (b *Barrier) wait(ctx context.Context) (int, error) {
	n := b.parties.Load()
	if n == 0 {
		return 0, fmt.Errorf("wait at barrier: not initialized (call Init): %w", ErrInvalid)
	}
	_ = b.Join() // best effort: beyond BarrierSlots processes are not watched

	// Arrive.
	var gen, idx uint32
	for {
		w := b.state.Load()
		low := uint32(w)
		if low&barrierBroken != 0 {
			return 0, fmt.Errorf("wait at barrier: %w", ErrBrokenBarrier)
		}
		gen, idx = low&barrierGenMask, uint32(w>>32)
		if idx+1 >= n {
			// Last to arrive: start the next round and release the others.
			if b.state.CompareAndSwap(w, uint64((gen+1)&barrierGenMask)) {
				if low&barrierSleepers != 0 {
					_, _ = futex.Wake(b.key(), math.MaxInt32)
				}
				return int(idx), nil
			}
			continue
		}
		if b.state.CompareAndSwap(w, w+1<<32) {
			break
		}
	}

	// Wait for the round to complete: spin briefly, then sleep, checking
	// the registered processes every checkInterval.
	start := nanotime()
	for i := 0; nanotime()-start <= int64(spinLimit); i++ {
		if uint32(b.state.Load())&(barrierGenMask|barrierBroken) != gen {
			return b.outcome(gen, idx)
		}
		spin(i)
	}
	var wt waiter
	wt.arm(ctx, b.key())
	defer wt.disarm()
	lastCheck := nanotime()
	for {
		w := b.state.Load()
		low := uint32(w)
		if low&(barrierGenMask|barrierBroken) != gen {
			return b.outcome(gen, idx)
		}
		if err := wt.err(); err != nil {
			if b.breakRound(gen) {
				return 0, fmt.Errorf("wait at barrier: %w (%w)", ErrBrokenBarrier, err)
			}
			continue // the round ended meanwhile
		}
		now := nanotime()
		if now-lastCheck >= int64(checkInterval) {
			lastCheck = now
			if pid := b.deadParty(); pid != 0 {
				b.breakRound(gen)
				return 0, fmt.Errorf("wait at barrier: party process %d died: %w", pid, ErrBrokenBarrier)
			}
		}
		if low&barrierSleepers == 0 {
			if !b.state.CompareAndSwap(w, w|uint64(barrierSleepers)) {
				continue
			}
			low |= barrierSleepers
		}
		if err := wt.sleep("wait at barrier", b.key(), low, time.Duration(lastCheck+int64(checkInterval)-now)); err != nil {
			return 0, err
		}
	}
}

// outcome tells a waiter of round gen how its round ended, once the state
// no longer shows that round in progress.
func (b *Barrier) outcome(gen, idx uint32) (int, error) {
	low := uint32(b.state.Load())
	if low&barrierGenMask == (gen+1)&barrierGenMask {
		return int(idx), nil // the round completed (a later round may be broken)
	}
	return 0, fmt.Errorf("wait at barrier: %w", ErrBrokenBarrier) // broken, or Reset
}

// breakRound breaks round gen if it is still in progress and reports whether
// the state now shows round gen broken.
func (b *Barrier) breakRound(gen uint32) bool {
	for {
		w := b.state.Load()
		low := uint32(w)
		if low&barrierGenMask != gen {
			return false
		}
		if low&barrierBroken != 0 {
			return true
		}
		if b.state.CompareAndSwap(w, w|uint64(barrierBroken)) {
			_, _ = futex.Wake(b.key(), math.MaxInt32)
			return true
		}
	}
}

// deadParty returns the pid of a registered process that is dead, or 0.
func (b *Barrier) deadParty() int {
	for i := range b.slots {
		if v := b.slots[i].Load(); v != 0 && v != self && !ownerAlive(v) {
			return max(ownerPID(v), 1)
		}
	}
	return 0
}

// Abort breaks the barrier: current and later waiters get ErrBrokenBarrier
// until Reset.
func (b *Barrier) Abort() {
	for {
		w := b.state.Load()
		if uint32(w)&barrierBroken != 0 {
			return
		}
		if b.state.CompareAndSwap(w, w|uint64(barrierBroken)) {
			_, _ = futex.Wake(b.key(), math.MaxInt32)
			return
		}
	}
}

// Reset returns the barrier to its initial state with the same number of
// parties: parties waiting now get ErrBrokenBarrier, registrations are
// forgotten (processes register again on their next Wait), and the next Wait
// starts a fresh round. Like Python's reset, it should be called when no
// party is about to arrive, for instance after all parties saw the barrier
// broken and agreed to start over.
func (b *Barrier) Reset() {
	for i := range b.slots {
		b.slots[i].Store(0)
	}
	for {
		w := b.state.Load()
		// Skip a generation, so that waiters of the current round can tell
		// a reset from a completed round.
		if b.state.CompareAndSwap(w, uint64((uint32(w)+2)&barrierGenMask)) {
			_, _ = futex.Wake(b.key(), math.MaxInt32)
			return
		}
	}
}
