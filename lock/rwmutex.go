package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// RWMutexSize is the size in bytes of an RWMutex (its alignment is 8).
const RWMutexSize = 256

// RWMutexSlots is the number of processes that can hold read locks of one
// RWMutex through their own slot; further processes read-lock through the
// writer lock, one at a time.
const RWMutexSlots = 15

const rwWriterSleeps uint32 = 1 << 31 // in the drain word: a writer sleeps

// RWMutex is a robust reader/writer lock that may live in memory shared
// between processes. Any number of read locks or one write lock may be held;
// a writer that waits for the readers to leave keeps new readers out, so
// writers are not starved. As with Mutex, owners are processes.
//
// The zero value is an unlocked RWMutex. It is RWMutexSize bytes with no
// pointers: a writer Mutex, a word the writer sleeps on while readers drain,
// and RWMutexSlots slots, each the owner word of a process and the number of
// read locks it holds. A process takes a slot on its first RLock and keeps
// it; a dead process's slot is reclaimed when the slots run out. It must not
// be copied after first use.
//
// An Unlock happens before every later RLock and Lock; an RUnlock happens
// before the next Lock; also across processes.
//
// Process death: a writer that dies holding the lock is reported like a Mutex
// owner: the next Lock or RLock returns ErrOwnerDead, and its caller then
// holds the lock for writing (even from RLock, since repairing needs
// exclusive access), calls Consistent after repairing, and Unlock. A reader
// that dies holding read locks is detected by a waiting writer, and its read
// locks are dropped: readers do not change the data, so there is nothing to
// repair. A writer looks at once when no reader has left while it spun (a
// reader that died before it came is found without a wait), and then about
// every 50 ms while it waits. The Lock or RLock that takes over from a dead
// writer returns only after the live readers have left (the locks of
// readers already dead are dropped at once, on this path); if its process
// dies in that wait, the next taker's error names that process and says it
// had taken the lock over from a dead owner, whose pid is then not
// reported.
type RWMutex struct {
	_     noCopy
	w     Mutex         // held by a writer (or briefly by a reader queueing behind one)
	drain atomic.Uint64 // low half: sequence bumped by RUnlock while a writer waits
	slots [RWMutexSlots]rwSlot
}

type rwSlot struct {
	owner atomic.Uint64 // owner word of the process using the slot, 0 if free
	count atomic.Uint64 // read locks that process holds
}

func (rw *RWMutex) drainKey() *uint32 { return lowHalf(unsafe.Pointer(&rw.drain)) }

// slotBusy marks a slot being reclaimed from a dead process: its pid is 0,
// so it names no process, and claimers only take slots whose owner is 0.
const slotBusy uint64 = 1 << 32

// slot returns the calling process's slot, claiming a free one (or one of a
// dead process) if it has none, or nil when every slot belongs to a live
// process.
func (rw *RWMutex) slot() *rwSlot {
	for range 3 {
		for i := range rw.slots {
			if rw.slots[i].owner.Load() == self {
				return &rw.slots[i]
			}
		}
		for i := range rw.slots {
			if rw.slots[i].owner.CompareAndSwap(0, self) {
				return &rw.slots[i]
			}
		}
		// Full: free the slots of dead processes, then look again.
		reclaimed := false
		for i := range rw.slots {
			if o := rw.slots[i].owner.Load(); o != 0 && o != slotBusy && !ownerAlive(o) {
				reclaimed = rw.slots[i].reclaim(o) || reclaimed
			}
		}
		if !reclaimed {
			return nil
		}
	}
	return nil
}

// reclaim frees slot s from the dead process o, dropping its read locks. Only
// the winner of the owner transition touches the count, and the slot is free
// again only once its count is 0.
func (s *rwSlot) reclaim(o uint64) bool {
	if !s.owner.CompareAndSwap(o, slotBusy) {
		return false
	}
	s.count.Store(0)
	s.owner.Store(0)
	return true
}

// RLock locks rw for reading. It returns nil when the caller holds a read
// lock. If a writer died holding rw, it returns an error wrapping
// ErrOwnerDead and the caller holds rw for writing (see the type
// documentation); an error wrapping ErrNotRecoverable means the caller holds
// nothing.
func (rw *RWMutex) RLock() error { return rw.rlock(context.Background()) }

// RLockContext is RLock with a deadline or cancellation: if ctx is done
// before rw could be locked it returns an error wrapping ctx.Err() and the
// caller holds nothing.
func (rw *RWMutex) RLockContext(ctx context.Context) error { return rw.rlock(ctx) }

func (rw *RWMutex) rlock(ctx context.Context) error {
	s := rw.slot()
	if s == nil {
		// No slot: read through the writer lock.
		return rw.lockWriter(ctx, "rlock rwmutex")
	}
	// Announce the reader, then look for a writer; a writer takes w, then
	// looks for readers. Both are sequentially consistent, so at least one
	// of the two sees the other.
	s.count.Add(1)
	if rw.w.w.Load() == 0 {
		return nil
	}
	rw.readerLeft(s)
	// Queue behind the writer on its Mutex, then announce ourselves while
	// holding it, when no writer can be active.
	err := rw.w.LockContext(ctx)
	switch {
	case errors.Is(err, ErrOwnerDead):
		// The writer died: the caller now holds rw for writing and must
		// repair, so it needs the readers gone too.
		rw.dropDeadReaders()
		if derr := rw.drainReaders(context.Background(), "rlock rwmutex"); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	case err != nil:
		return err
	}
	s.count.Add(1)
	return rw.w.Unlock()
}

// RUnlock undoes one RLock. RUnlock of an RWMutex not read-locked by the
// caller's process panics with "lock: RUnlock of unlocked RWMutex".
func (rw *RWMutex) RUnlock() error {
	for i := range rw.slots {
		s := &rw.slots[i]
		if s.owner.Load() != self {
			continue
		}
		for {
			c := s.count.Load()
			if c == 0 {
				break
			}
			if s.count.CompareAndSwap(c, c-1) {
				rw.wakeWriter()
				return nil
			}
		}
	}
	if rw.w.w.Load()&ownerMask == self {
		return rw.w.Unlock() // read-locked through the writer lock
	}
	panic("lock: RUnlock of unlocked RWMutex")
}

func (rw *RWMutex) readerLeft(s *rwSlot) {
	s.count.Add(^uint64(0))
	rw.wakeWriter()
}

// wakeWriter tells a writer that waits for readers to leave to look again.
func (rw *RWMutex) wakeWriter() {
	if rw.w.w.Load() == 0 {
		return // no writer
	}
	for {
		v := rw.drain.Load()
		low := uint32(v)
		if rw.drain.CompareAndSwap(v, v&^0xFFFF_FFFF|uint64((low+1)&^rwWriterSleeps)) {
			if low&rwWriterSleeps != 0 {
				_, _ = futex.Wake(rw.drainKey(), 1)
			}
			return
		}
	}
}

// Lock locks rw for writing, waiting for the readers to leave. It returns
// like Mutex.Lock: nil, an error wrapping ErrOwnerDead (the caller holds rw
// and must repair and call Consistent), or one wrapping ErrNotRecoverable.
func (rw *RWMutex) Lock() error { return rw.lockWriter(context.Background(), "lock rwmutex") }

// LockContext is Lock with a deadline or cancellation: if ctx is done first
// it returns an error wrapping ctx.Err() and the caller holds nothing. (Once
// the writer lock was taken with ErrOwnerDead, the wait for readers to leave
// is no longer cancellable, as giving up would lose the repair.)
func (rw *RWMutex) LockContext(ctx context.Context) error { return rw.lockWriter(ctx, "lock rwmutex") }

func (rw *RWMutex) lockWriter(ctx context.Context, op string) error {
	err := rw.w.LockContext(ctx)
	if err != nil && !errors.Is(err, ErrOwnerDead) {
		return err
	}
	if err != nil {
		ctx = context.Background() // the repair must not be given up
		// Took over from a dead writer. Until this call returns, the
		// caller cannot hear of the death: a process killed meanwhile
		// takes the dead writer's pid with it (the next taker's error
		// only says there was one). Readers often die with the writer,
		// so drop dead readers' locks now, not at drainReaders' first
		// liveness check, checkInterval later; this costs a /proc read
		// per slot in use, on this path only.
		rw.dropDeadReaders()
	}
	if derr := rw.drainReaders(ctx, op); derr != nil {
		if uerr := rw.w.Unlock(); uerr != nil {
			return errors.Join(derr, uerr)
		}
		return derr
	}
	return err
}

// drainReaders waits, holding w, until no process (other than through w)
// holds a read lock, dropping the read locks of dead processes.
func (rw *RWMutex) drainReaders(ctx context.Context, op string) error {
	start := nanotime()
	first := rw.readers()
	for i := 0; ; i++ {
		if rw.readers() == 0 {
			return nil
		}
		if nanotime()-start > int64(spinLimit) {
			break
		}
		spin(i)
	}
	var wt waiter
	wt.arm(ctx, rw.drainKey())
	defer wt.disarm()
	lastCheck := nanotime()
	if rw.readers() == first {
		// Not one reader left while we spun: they may be dead (a reader
		// killed before this writer came), so look now rather than a
		// checkInterval later. This costs a /proc read per slot in use,
		// once per Lock that gets this far; readers that come and go
		// change the count and spare it.
		lastCheck -= int64(checkInterval)
	}
	for {
		v := rw.drain.Load()
		low := uint32(v)
		if low&rwWriterSleeps == 0 {
			if !rw.drain.CompareAndSwap(v, v|uint64(rwWriterSleeps)) {
				continue
			}
			low |= rwWriterSleeps
		}
		if rw.readers() == 0 { // after raising the flag: no wake-up is lost
			return nil
		}
		if err := wt.err(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		now := nanotime()
		if now-lastCheck >= int64(checkInterval) {
			lastCheck = now
			rw.dropDeadReaders()
			continue
		}
		if err := wt.sleep(op, rw.drainKey(), low, time.Duration(lastCheck+int64(checkInterval)-now)); err != nil {
			return err
		}
	}
}

// readers returns the number of read locks held through slots.
func (rw *RWMutex) readers() uint64 {
	var n uint64
	for i := range rw.slots {
		n += rw.slots[i].count.Load()
	}
	return n
}

func (rw *RWMutex) dropDeadReaders() {
	for i := range rw.slots {
		s := &rw.slots[i]
		if o := s.owner.Load(); o != 0 && o != slotBusy && s.count.Load() != 0 && !ownerAlive(o) {
			s.reclaim(o)
		}
	}
}

// Unlock unlocks rw locked for writing; see Mutex.Unlock.
func (rw *RWMutex) Unlock() error {
	if err := rw.w.Unlock(); err != nil {
		return fmt.Errorf("unlock rwmutex: %w", err)
	}
	return nil
}

// Consistent marks rw, which the caller holds for writing after
// ErrOwnerDead, as consistent again; see Mutex.Consistent.
func (rw *RWMutex) Consistent() error { return rw.w.Consistent() }
