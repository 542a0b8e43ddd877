//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

// Results children write at offAux+4*i for the tests that collect them.
const (
	resNone = iota
	resLocked
	resOwnerDead
	resNotRecoverable
	resOther
)

func classify(err error) uint32 {
	switch {
	case err == nil:
		return resLocked
	case errors.Is(err, ErrOwnerDead):
		return resOwnerDead
	case errors.Is(err, ErrNotRecoverable):
		return resNotRecoverable
	}
	return resOther
}

func init() {
	// incr N: wait for the start flag, then N locked increments of the
	// plain counter.
	children["incr"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		ctr := (*uint64)(unsafePointer(mem, offCounter))
		n := atoi(args[0])
		memU32(mem, offFlag).Add(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := m.Lock(); err != nil {
				return fmt.Errorf("lock %d: %w", i, err)
			}
			*ctr++
			if err := m.Unlock(); err != nil {
				return fmt.Errorf("unlock %d: %w", i, err)
			}
		}
		return nil
	}
	// hold MODE: lock, raise the flag, then either sleep until killed
	// (MODE=sleep) or exit while still holding the lock (MODE=exit).
	children["hold"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		if err := m.Lock(); err != nil {
			return err
		}
		memU32(mem, offFlag).Store(1)
		if args[0] == "exit" {
			return nil
		}
		time.Sleep(60 * time.Second)
		return errors.New("was not killed")
	}
	// waitlock I: raise the flag, lock (bounded), record how Lock returned
	// in result slot I, add one to the counter, repair if needed, unlock.
	children["waitlock"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		i := atoi(args[0])
		memU32(mem, offFlag).Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = m.LockContext(ctx)
		memU32(mem, offAux+4*i).Store(classify(err))
		switch {
		case err == nil:
		case errors.Is(err, ErrOwnerDead):
			if err := m.Consistent(); err != nil {
				return err
			}
		default:
			return nil // result recorded; nothing held
		}
		*(*uint64)(unsafePointer(mem, offCounter))++
		return m.Unlock()
	}
}

func TestMutexCounterProcesses(t *testing.T) {
	n := 1_000_000
	if raceEnabled {
		n = 200_000 // every atomic is several times slower under -race
	}
	for _, procs := range []int{2, 4} {
		t.Run(fmt.Sprintf("procs=%d/n=%d", procs, n), func(t *testing.T) {
			s := newShared(t)
			kids := make([]*child, procs)
			for i := range kids {
				kids[i] = startChild(t, s, "incr", n)
			}
			testproc.WaitFor(t, "children ready", func() bool { return s.u32(offFlag).Load() == uint32(procs) })
			start := time.Now()
			s.u32(offGo).Store(1)
			for _, k := range kids {
				k.WaitOK(t)
			}
			el := time.Since(start)
			require.Equal(t, uint64(procs*n), *s.plain(offCounter))
			require.Zero(t, s.u64(offMutex).Load(), "mutex left locked")
			t.Logf("%d processes x %d locked increments: %v (%.1f M ops/s)", procs, n, el,
				float64(procs*n)/el.Seconds()/1e6)
		})
	}
}

func TestMutexGoroutines(t *testing.T) {
	// On the heap, so that the race detector checks that Unlock happens
	// before the next Lock.
	var m Mutex
	var ctr int
	const goroutines, n = 8, 5000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range n {
				require.NoError(t, m.Lock())
				ctr++
				require.NoError(t, m.Unlock())
			}
		})
	}
	wg.Wait()
	require.Equal(t, goroutines*n, ctr)
}

func TestMutexSleepAndWake(t *testing.T) {
	// A holder that keeps the lock far longer than the spin phase forces
	// the waiter onto the futex; Unlock must wake it.
	var m Mutex
	require.NoError(t, m.Lock())
	got := make(chan error, 1)
	go func() { got <- m.LockContext(deadline(t, 20*time.Second)) }()
	testproc.WaitFor(t, "the waiter to sleep", func() bool { return m.w.Load()&uint64(flagWaiters) != 0 })
	require.NoError(t, m.Unlock())
	require.NoError(t, <-got)
	require.NoError(t, m.Unlock())
	require.Zero(t, m.w.Load())
}

func TestMutexTryLock(t *testing.T) {
	var m Mutex
	ok, err := m.TryLock()
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = m.TryLock() // not reentrant
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, proc.Self().PID, m.Owner())
	require.NoError(t, m.Unlock())
	require.Zero(t, m.Owner())
}

// killHolder starts a child that locks the shared mutex and returns once it
// holds it.
func init() {
	// takehold: lock (bounded), which must take the Mutex over from a dead
	// owner, raise the flag to 2, then hold it without repairing until
	// killed.
	children["takehold"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.LockContext(ctx); !errors.Is(err, ErrOwnerDead) {
			return fmt.Errorf("lock: %v, want ErrOwnerDead", err)
		}
		memU32(mem, offFlag).Store(2)
		time.Sleep(60 * time.Second)
		return errors.New("was not killed")
	}
	// locktext: lock (bounded), print the error Lock returned as one line,
	// repair and unlock.
	children["locktext"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = m.LockContext(ctx)
		fmt.Println(err)
		if !errors.Is(err, ErrOwnerDead) {
			return fmt.Errorf("lock: %v, want ErrOwnerDead", err)
		}
		if err := m.Consistent(); err != nil {
			return err
		}
		return m.Unlock()
	}
}

func killHolder(t *testing.T, s *shared, mode string) *child {
	k := startChild(t, s, "hold", mode)
	testproc.WaitFor(t, "child to hold the lock", func() bool { return s.u32(offFlag).Load() == 1 })
	return k
}

func TestMutexOwnerKilledBeforeLock(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	k := killHolder(t, s, "sleep")
	pid := k.PID()
	require.Equal(t, pid, m.Owner())
	require.NoError(t, k.Kill()) // left a zombie: must count as dead

	testproc.WaitFor(t, "the owner to die", func() bool {
		st, err := proc.State(pid)
		return err != nil || st == 'Z' || st == 'X' // a zombie, or already reaped
	})
	// The owner died before this Lock came: it finds out before its first
	// sleep on the word, not after it (about 50 ms).
	slept, err := watchSleeps(t, m.key(), func() error { return m.LockContext(deadline(t, 10*time.Second)) })
	require.ErrorIs(t, err, ErrOwnerDead)
	require.ErrorContains(t, err, fmt.Sprint(pid))
	require.Zero(t, slept, "the Lock slept on the word of a dead owner")

	// Repair, mark consistent, and the lock works again, across processes.
	*s.plain(offCounter) = 41
	require.NoError(t, m.Consistent())
	require.NoError(t, m.Unlock())
	w := startChild(t, s, "waitlock", 0)
	w.WaitOK(t)
	require.Equal(t, uint32(resLocked), s.u32(offAux).Load())
	require.Equal(t, uint64(42), *s.plain(offCounter))
	require.NoError(t, m.Lock())
	require.NoError(t, m.Unlock())
}

func TestMutexOwnerKilledWhileWaiting(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	k := killHolder(t, s, "sleep")
	got := make(chan error, 1)
	go func() { got <- m.LockContext(deadline(t, 10*time.Second)) }()
	waitAsleep(t, 1, m.key())
	start := time.Now()
	require.NoError(t, k.Kill())
	err = <-got
	t.Logf("waiter got ErrOwnerDead %v after the kill", time.Since(start))
	require.ErrorIs(t, err, ErrOwnerDead)
	require.NoError(t, m.Consistent())
	require.NoError(t, m.Consistent(), "Consistent on a consistent mutex is a no-op")
	require.NoError(t, m.Unlock())
	require.Zero(t, s.u64(offMutex).Load())
}

func TestMutexOwnerExitsHolding(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	k := killHolder(t, s, "exit")
	k.WaitOK(t) // exited normally, reaped, still "holding" the lock
	ok, err := m.TryLock()
	require.True(t, ok)
	require.ErrorIs(t, err, ErrOwnerDead)
	require.NoError(t, m.Consistent())
	require.NoError(t, m.Unlock())
}

func TestMutexOneWaiterGetsOwnerDead(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	k := killHolder(t, s, "sleep")
	const waiters = 3
	ws := make([]*child, waiters)
	for i := range ws {
		ws[i] = startChild(t, s, "waitlock", i)
	}
	testproc.WaitFor(t, "waiters", func() bool { return s.u32(offFlag).Load() == 1+waiters })
	for _, w := range ws {
		s.waitChildAsleep(t, w, offMutex)
	}
	require.NoError(t, k.Kill())
	for _, w := range ws {
		w.WaitOK(t)
	}
	counts := map[uint32]int{}
	for i := range waiters {
		counts[s.u32(offAux+4*i).Load()]++
	}
	require.Equal(t, map[uint32]int{resOwnerDead: 1, resLocked: waiters - 1}, counts)
	require.Equal(t, uint64(waiters), *s.plain(offCounter))
	require.NoError(t, m.Lock())
	require.NoError(t, m.Unlock())
}

func TestMutexNotRecoverable(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	require.NoError(t, killHolder(t, s, "sleep").Kill())
	require.ErrorIs(t, m.LockContext(deadline(t, 10*time.Second)), ErrOwnerDead)
	require.ErrorIs(t, m.Unlock(), ErrNotRecoverable) // no Consistent
	require.ErrorIs(t, m.Lock(), ErrNotRecoverable)
	require.ErrorIs(t, m.LockContext(deadline(t, time.Second)), ErrNotRecoverable)
	ok, err := m.TryLock()
	require.False(t, ok)
	require.ErrorIs(t, err, ErrNotRecoverable)
	require.ErrorIs(t, m.Unlock(), ErrNotRecoverable)
	require.ErrorIs(t, m.Consistent(), ErrNotRecoverable)
	require.Zero(t, m.Owner())

	// Another process sees the same.
	w := startChild(t, s, "waitlock", 0)
	w.WaitOK(t)
	require.Equal(t, uint32(resNotRecoverable), s.u32(offAux).Load())

	m.Reset()
	require.NoError(t, m.Lock())
	require.NoError(t, m.Unlock())
}

func TestMutexOwnerDiesWhileRepairing(t *testing.T) {
	// The process that got ErrOwnerDead dies too: the next locker gets
	// ErrOwnerDead again (the mutex is still inconsistent).
	var m Mutex
	dead := ownerWord(proc.ID{PID: 1 << 28, Start: 1}) // no such pid
	m.w.Store(dead | uint64(flagInconsistent))
	ok, err := m.TryLock()
	require.True(t, ok)
	require.ErrorIs(t, err, ErrOwnerDead)
	require.NotZero(t, m.w.Load()&uint64(flagInconsistent))
	require.NoError(t, m.Consistent())
	require.NoError(t, m.Unlock())
}

// A taker that dies before calling Consistent leaves the Mutex inconsistent
// under its own pid; the next taker's error names that process and says it
// had taken the lock over from a dead owner, whose pid is gone.
func TestMutexTakerDiesBeforeConsistent(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	first := killHolder(t, s, "sleep")
	require.NoError(t, first.Kill())
	_, _ = first.Wait()
	taker := startChild(t, s, "takehold")
	testproc.WaitFor(t, "the taker to hold the lock", func() bool { return s.u32(offFlag).Load() == 2 })
	require.Equal(t, taker.PID(), m.Owner())
	require.NotZero(t, uint32(s.u64(offMutex).Load())&flagInconsistent)
	require.NoError(t, taker.Kill())
	_, _ = taker.Wait()

	err = m.LockContext(deadline(t, 20*time.Second))
	require.ErrorIs(t, err, ErrOwnerDead)
	require.ErrorContains(t, err, fmt.Sprintf("(process %d, which had itself taken the lock over from a dead owner", taker.PID()))
	require.NotContains(t, err.Error(), fmt.Sprint(first.PID()))
	require.NoError(t, m.Consistent())
	require.NoError(t, m.Unlock())
}

// A word that names no process (pid 0 without the not-recoverable bit: no
// Lock writes it, a damaged persistent segment can hold it) is taken over
// like a dead owner's, and the error says the owner is unknown instead of
// naming process 0.
func TestMutexOwnerUnknown(t *testing.T) {
	for _, w := range []uint64{
		uint64(flagWaiters),
		0xdead_beef_0000_0000,
		0xdead_beef_0000_0000 | uint64(flagInconsistent|flagWaiters),
	} {
		s := newShared(t)
		s.u64(offMutex).Store(w)
		k := startChild(t, s, "locktext")
		line := k.Line(t)
		k.WaitOK(t)
		require.Contains(t, line, ErrOwnerDead.Error(), "word %#x", w)
		require.Contains(t, line, "(owner unknown: the lock word named no process)", "word %#x", w)
		require.NotContains(t, line, "process 0", "word %#x", w)
		require.Zero(t, s.u64(offMutex).Load(), "word %#x: unlocked after the repair", w)
	}
}

func TestMutexReusedPID(t *testing.T) {
	me := proc.Self()
	s := newShared(t)
	k := startChild(t, s, "hold", "sleep") // a live process that is not us
	testproc.WaitFor(t, "child", func() bool { return s.u32(offFlag).Load() == 1 })
	kst, err := proc.StartTime(k.PID())
	require.NoError(t, err)
	live := proc.ID{PID: k.PID(), Start: kst}

	for _, tc := range []struct {
		name  string
		owner proc.ID
		dead  bool
	}{
		{"own pid, other incarnation", proc.ID{PID: me.PID, Start: me.Start + 1}, true},
		{"live pid, other incarnation", proc.ID{PID: live.PID, Start: live.Start + 12345}, true},
		{"live pid, right incarnation", live, false},
		{"no such pid", proc.ID{PID: 1<<22 + 17, Start: 5}, true},
		{"pid zero", proc.ID{PID: 0, Start: 5}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Mutex
			m.w.Store(ownerWord(tc.owner) | uint64(flagWaiters))
			require.Equal(t, !tc.dead, ownerAlive(m.w.Load()))
			ok, err := m.TryLock()
			require.Equal(t, tc.dead, ok)
			if !tc.dead {
				require.NoError(t, err)
				err = m.LockContext(deadline(t, 120*time.Millisecond))
				require.ErrorIs(t, err, context.DeadlineExceeded, "a live owner must not be taken for dead")
				require.ErrorIs(t, m.Unlock(), ErrNotOwner)
				return
			}
			require.ErrorIs(t, err, ErrOwnerDead)
			require.NotZero(t, m.w.Load()&uint64(flagWaiters), "takeover must keep the waiters bit")
			require.NoError(t, m.Consistent())
			require.NoError(t, m.Unlock())
		})
	}
	// The blocking path detects a forged owner too.
	var m Mutex
	m.w.Store(ownerWord(proc.ID{PID: me.PID, Start: me.Start + 1}))
	require.ErrorIs(t, m.LockContext(deadline(t, 10*time.Second)), ErrOwnerDead)
}

func TestMutexUnlockByNonOwner(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	k := killHolder(t, s, "sleep")
	before := s.u64(offMutex).Load()
	require.ErrorIs(t, m.Unlock(), ErrNotOwner)
	require.ErrorIs(t, m.Consistent(), ErrNotOwner)
	require.Equal(t, before, s.u64(offMutex).Load(), "a failed unlock must not change the mutex")
	require.Equal(t, k.PID(), m.Owner())
}

func TestMutexDoubleUnlockPanics(t *testing.T) {
	var m Mutex
	require.PanicsWithValue(t, "lock: unlock of unlocked Mutex", func() { _ = m.Unlock() })
	require.NoError(t, m.Lock())
	require.NoError(t, m.Unlock())
	require.PanicsWithValue(t, "lock: unlock of unlocked Mutex", func() { _ = m.Unlock() })
}

func TestMutexTimeoutAndCancel(t *testing.T) {
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	killHolder(t, s, "sleep")

	err = m.LockContext(deadline(t, 30*time.Millisecond))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel := context.WithCancel(context.Background())
	check := cancelWhenAsleep(t, 1, m.key(), cancel)
	err = m.LockContext(ctx)
	require.ErrorIs(t, err, context.Canceled)
	check()

	// A context that is already done still fails on a held mutex...
	err = m.LockContext(ctx)
	require.ErrorIs(t, err, context.Canceled)
	// ...but locks a free one.
	var free Mutex
	require.NoError(t, free.LockContext(ctx))
	require.NoError(t, free.Unlock())
}

func TestMutexSize(t *testing.T) {
	require.Equal(t, uintptr(MutexSize), unsafe.Sizeof(Mutex{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(Mutex{}))
}
