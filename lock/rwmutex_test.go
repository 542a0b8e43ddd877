//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

// RWMutex tests: the RWMutex at offPrim, two plain counters a and b at
// offCounter and offCounter+8 that writers keep equal, and at offAux the
// writers inside (u32), readers inside (u32), most readers at once (u32).
func init() {
	children["rwwriter"] = func(mem []byte, args []string) error {
		rw, err := Place[RWMutex](mem, offPrim)
		if err != nil {
			return err
		}
		a, b := (*uint64)(unsafePointer(mem, offCounter)), (*uint64)(unsafePointer(mem, offCounter+8))
		writers, readers := memU32(mem, offAux), memU32(mem, offAux+4)
		memU32(mem, offFlag).Add(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for i := range atoi(args[0]) {
			if err := rw.Lock(); err != nil {
				return err
			}
			if w := writers.Add(1); w != 1 || readers.Load() != 0 {
				return fmt.Errorf("write %d: %d writers and %d readers inside", i, w, readers.Load())
			}
			*a++
			pause(10)
			*b++
			writers.Add(^uint32(0))
			if err := rw.Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	children["rwreader"] = func(mem []byte, args []string) error {
		rw, err := Place[RWMutex](mem, offPrim)
		if err != nil {
			return err
		}
		a, b := (*uint64)(unsafePointer(mem, offCounter)), (*uint64)(unsafePointer(mem, offCounter+8))
		writers, readers, most := memU32(mem, offAux), memU32(mem, offAux+4), memU32(mem, offAux+8)
		memU32(mem, offFlag).Add(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for i := range atoi(args[0]) {
			if err := rw.RLock(); err != nil {
				return err
			}
			r := readers.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			if writers.Load() != 0 || *a != *b {
				return fmt.Errorf("read %d: a writer is inside (a=%d b=%d)", i, *a, *b)
			}
			pause(10)
			readers.Add(^uint32(0))
			if err := rw.RUnlock(); err != nil {
				return err
			}
		}
		return nil
	}
	// rwhold MODE: take rw for reading (MODE=r) or writing (MODE=w), raise
	// the flag, sleep until killed.
	children["rwhold"] = func(mem []byte, args []string) error {
		rw, err := Place[RWMutex](mem, offPrim)
		if err != nil {
			return err
		}
		if args[0] == "r" {
			err = rw.RLock()
		} else {
			err = rw.Lock()
		}
		if err != nil {
			return err
		}
		memU32(mem, offFlag).Store(1)
		time.Sleep(60 * time.Second)
		return errors.New("was not killed")
	}
}

func TestRWMutexProcesses(t *testing.T) {
	n := 20_000
	if raceEnabled {
		n = 5_000
	}
	s := newShared(t)
	kids := []*child{
		startChild(t, s, "rwwriter", n), startChild(t, s, "rwwriter", n),
		startChild(t, s, "rwreader", 4*n), startChild(t, s, "rwreader", 4*n),
	}
	testproc.WaitFor(t, "children", func() bool { return s.u32(offFlag).Load() == uint32(len(kids)) })
	s.u32(offGo).Store(1)
	for _, k := range kids {
		k.WaitOK(t)
	}
	require.Equal(t, uint64(2*n), *s.plain(offCounter))
	require.Equal(t, uint64(2*n), *s.plain(offCounter + 8))
	t.Logf("most readers inside at once: %d", s.u32(offAux+8).Load())
	rw, err := Place[RWMutex](s.mem, offPrim)
	require.NoError(t, err)
	require.Zero(t, rw.readers())
	require.Zero(t, rw.w.w.Load())
}

func TestRWMutexGoroutines(t *testing.T) {
	var rw RWMutex
	var a, b int
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if g%4 == 0 {
					if err := rw.Lock(); err != nil {
						errs <- err
						return
					}
					a++
					b++
					_ = rw.Unlock()
					continue
				}
				if err := rw.RLock(); err != nil {
					errs <- err
					return
				}
				if a != b {
					errs <- fmt.Errorf("read %d: a=%d b=%d", i, a, b)
				}
				_ = rw.RUnlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 2*2000, a)
}

func TestRWMutexReaderKilled(t *testing.T) {
	s := newShared(t)
	rw, err := Place[RWMutex](s.mem, offPrim)
	require.NoError(t, err)
	k := startChild(t, s, "rwhold", "r")
	testproc.WaitFor(t, "reader", func() bool { return s.u32(offFlag).Load() == 1 })
	require.NoError(t, rw.RLock(), "readers share")
	require.NoError(t, rw.RUnlock())
	require.NoError(t, k.Kill())
	_, _ = k.Wait()
	// A dead reader's read lock is dropped; there is nothing to repair. It
	// died before the writer came, and the writer finds that out before
	// its first sleep on the drain word, not after it (about 50 ms).
	slept, err := watchSleeps(t, rw.drainKey(), func() error { return rw.LockContext(deadline(t, 10*time.Second)) })
	require.NoError(t, err)
	require.Zero(t, slept, "the writer slept on the drain word, waiting for a dead reader")
	require.Zero(t, rw.readers())
	require.NoError(t, rw.Unlock())
}

// watchSleeps runs lock in another goroutine and counts the times it was
// seen asleep on the futex word key until it returned.
func watchSleeps(t *testing.T, key *uint32, lock func() error) (int, error) {
	t.Helper()
	addr := uintptr(unsafe.Pointer(key))
	done := make(chan error, 1)
	go func() { done <- lock() }()
	slept := 0
	for {
		select {
		case err := <-done:
			return slept, err
		default:
			if n, ferr := testproc.FutexSleepers(os.Getpid(), addr); ferr == nil && n > 0 {
				slept++
			}
			runtime.Gosched()
		}
	}
}

func TestRWMutexWriterKilled(t *testing.T) {
	for _, reader := range []bool{true, false} {
		t.Run(map[bool]string{true: "then RLock", false: "then Lock"}[reader], func(t *testing.T) {
			s := newShared(t)
			rw, err := Place[RWMutex](s.mem, offPrim)
			require.NoError(t, err)
			k := startChild(t, s, "rwhold", "w")
			testproc.WaitFor(t, "writer", func() bool { return s.u32(offFlag).Load() == 1 })
			require.NoError(t, k.Kill())
			if reader {
				err = rw.RLockContext(deadline(t, 10*time.Second))
			} else {
				err = rw.LockContext(deadline(t, 10*time.Second))
			}
			require.ErrorIs(t, err, ErrOwnerDead)
			// Either way the caller now holds rw for writing.
			require.Equal(t, proc.Self().PID, rw.w.Owner())
			require.NoError(t, rw.Consistent())
			require.NoError(t, rw.Unlock())
			require.NoError(t, rw.RLock())
			require.NoError(t, rw.RUnlock())
		})
	}
}

// A writer killed while it waits for a reader to leave, and the reader
// killed too: the Lock or RLock that takes over drops the dead reader's read
// lock at once, instead of sleeping on the drain word until its next
// liveness check (about 50 ms later). Until that call returns, its caller
// cannot report the death, so a process killed in that wait would take the
// dead writer's pid with it; the wait is kept as short as the live readers
// make it.
func TestRWMutexTakeoverDropsDeadReadersAtOnce(t *testing.T) {
	for _, reader := range []bool{true, false} {
		t.Run(map[bool]string{true: "RLock", false: "Lock"}[reader], func(t *testing.T) {
			s := newShared(t)
			rw, err := Place[RWMutex](s.mem, offPrim)
			require.NoError(t, err)
			r := startChild(t, s, "rwhold", "r")
			testproc.WaitFor(t, "the reader", func() bool { return s.u32(offFlag).Load() == 1 })
			w := startChild(t, s, "rwhold", "w")
			testproc.WaitFor(t, "the writer to take the writer lock", func() bool { return rw.w.Owner() == w.PID() })
			s.waitChildAsleep(t, w, offPrim+8) // draining: waits for the reader
			require.NoError(t, w.Kill())
			_, _ = w.Wait()
			require.NoError(t, r.Kill())
			_, _ = r.Wait()

			slept, err := watchSleeps(t, rw.drainKey(), func() error {
				if reader {
					return rw.RLockContext(deadline(t, 20*time.Second))
				}
				return rw.LockContext(deadline(t, 20*time.Second))
			})
			require.ErrorIs(t, err, ErrOwnerDead)
			require.ErrorContains(t, err, fmt.Sprintf("(process %d)", w.PID()))
			require.Zero(t, slept, "the takeover slept on the drain word, waiting for a dead reader")
			require.Zero(t, rw.readers())
			require.NoError(t, rw.Consistent())
			require.NoError(t, rw.Unlock())
		})
	}
}

func TestRWMutexWriterKeepsReadersOut(t *testing.T) {
	var rw RWMutex
	require.NoError(t, rw.RLock())
	// A writer cannot get in while we read...
	require.ErrorIs(t, rw.LockContext(deadline(t, 30*time.Millisecond)), context.DeadlineExceeded)
	require.Zero(t, rw.w.Owner(), "a writer that gave up releases the writer lock")
	// ...and a waiting writer keeps new readers out.
	got := make(chan error, 1)
	go func() { got <- rw.LockContext(deadline(t, 20*time.Second)) }()
	testproc.WaitFor(t, "writer", func() bool { return rw.w.Owner() != 0 })
	done := make(chan error, 1)
	go func() { done <- rw.RLockContext(deadline(t, 30*time.Millisecond)) }()
	require.ErrorIs(t, <-done, context.DeadlineExceeded)
	waitAsleep(t, 1, rw.drainKey()) // the writer sleeps until the reader leaves
	require.NoError(t, rw.RUnlock())
	require.NoError(t, <-got)
	require.NoError(t, rw.Unlock())
}

func TestRWMutexSlots(t *testing.T) {
	s := newShared(t)
	k := startChild(t, s, "hold", "sleep") // a live process that is not us
	testproc.WaitFor(t, "child", func() bool { return s.u32(offFlag).Load() == 1 })
	st, err := proc.StartTime(k.PID())
	require.NoError(t, err)
	live := ownerWord(proc.ID{PID: k.PID(), Start: st})

	var rw RWMutex
	for i := range rw.slots {
		rw.slots[i].owner.Store(live) // every slot taken by a live process
	}
	require.NoError(t, rw.RLock()) // through the writer lock
	require.Equal(t, proc.Self().PID, rw.w.Owner())
	require.NoError(t, rw.RUnlock())
	require.Zero(t, rw.w.Owner())

	dead := ownerWord(proc.ID{PID: 1<<22 + 3, Start: 9})
	rw.slots[7].owner.Store(dead)
	rw.slots[7].count.Store(2) // a dead reader's locks
	require.NoError(t, rw.RLock())
	require.Equal(t, self, rw.slots[7].owner.Load(), "the dead process's slot was reclaimed")
	require.Equal(t, uint64(1), rw.slots[7].count.Load())
	require.NoError(t, rw.RUnlock())
	require.PanicsWithValue(t, "lock: RUnlock of unlocked RWMutex", func() { _ = rw.RUnlock() })
	require.PanicsWithValue(t, "lock: unlock of unlocked Mutex", func() { _ = rw.Unlock() })
}

func TestRWMutexSize(t *testing.T) {
	require.Equal(t, uintptr(RWMutexSize), unsafe.Sizeof(RWMutex{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(RWMutex{}))
}
