//go:build linux

package lock

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func init() {
	// semchurn N: N times acquire the semaphore at offPrim, count the
	// holders at offAux, record their maximum at offAux+4, release.
	children["semchurn"] = func(mem []byte, args []string) error {
		s, err := Place[Semaphore](mem, offPrim)
		if err != nil {
			return err
		}
		holders, most, total := memU32(mem, offAux), memU32(mem, offAux+4), memU64(mem, offAux+8)
		n := atoi(args[0])
		memU32(mem, offFlag).Add(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for i := range n {
			if err := s.Acquire(); err != nil {
				return err
			}
			h := holders.Add(1)
			for m := most.Load(); h > m && !most.CompareAndSwap(m, h); m = most.Load() {
			}
			if i%16 == 0 {
				pause(200) // hold a little longer now and then
			}
			holders.Add(^uint32(0))
			total.Add(1)
			if err := s.Release(); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestSemaphoreProcesses(t *testing.T) {
	const procs, units = 4, 3
	n := 50_000
	if raceEnabled {
		n = 10_000
	}
	s := newShared(t)
	sem, err := Place[Semaphore](s.mem, offPrim)
	require.NoError(t, err)
	require.NoError(t, sem.Init(units, units))
	kids := make([]*child, procs)
	for i := range kids {
		kids[i] = startChild(t, s, "semchurn", n)
	}
	testproc.WaitFor(t, "children", func() bool { return s.u32(offFlag).Load() == procs })
	s.u32(offGo).Store(1)
	for _, k := range kids {
		k.WaitOK(t)
	}
	most := s.u32(offAux + 4).Load()
	t.Logf("most holders at once: %d of %d", most, units)
	require.LessOrEqual(t, most, uint32(units))
	require.GreaterOrEqual(t, most, uint32(1))
	require.Equal(t, uint64(procs*n), s.u64(offAux+8).Load())
	require.Equal(t, units, sem.Value())
	require.Equal(t, units, sem.Bound())
}

func TestSemaphoreMisuse(t *testing.T) {
	var s Semaphore
	require.ErrorIs(t, s.Init(-1, 0), ErrInvalid)
	require.ErrorIs(t, s.Init(0, -1), ErrInvalid)
	require.ErrorIs(t, s.Init(5, 3), ErrInvalid)
	require.ErrorIs(t, s.Init(math.MaxInt32+1, 0), ErrInvalid)
	require.ErrorIs(t, s.ReleaseN(-1), ErrInvalid)
	require.NoError(t, s.ReleaseN(0))

	require.NoError(t, s.Init(1, 1))
	require.ErrorIs(t, s.Release(), ErrOverflow) // already at its bound
	require.Equal(t, 1, s.Value())
	require.True(t, s.TryAcquire())
	require.False(t, s.TryAcquire())
	require.ErrorIs(t, s.ReleaseN(2), ErrOverflow)
	require.Equal(t, 0, s.Value(), "a failed release releases nothing")
	require.NoError(t, s.Release())

	require.NoError(t, s.Init(MaxSemaphoreCount, 0))
	require.ErrorIs(t, s.Release(), ErrOverflow)

	var zero Semaphore // count 0, no bound
	require.False(t, zero.TryAcquire())
	require.NoError(t, zero.ReleaseN(2))
	require.NoError(t, zero.Acquire())
	require.NoError(t, zero.Acquire())
	require.Equal(t, 0, zero.Value())
}

func TestSemaphoreTimeoutAndCancel(t *testing.T) {
	var s Semaphore
	require.ErrorIs(t, s.AcquireContext(deadline(t, 30*time.Millisecond)), context.DeadlineExceeded)
	ctx, cancel := context.WithCancel(context.Background())
	check := cancelWhenAsleep(t, 1, s.key(), cancel)
	require.ErrorIs(t, s.AcquireContext(ctx), context.Canceled)
	check()
	require.Equal(t, 0, s.Value())
	require.NoError(t, s.Release())
	require.NoError(t, s.AcquireContext(ctx), "an available unit is taken even with a done context")
}

func TestSemaphoreWakesSleepers(t *testing.T) {
	var s Semaphore
	const waiters = 5
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		wg.Go(func() { errs <- s.AcquireContext(deadline(t, 20*time.Second)) })
	}
	waitAsleep(t, waiters, s.key())
	require.NotZero(t, uint32(s.v.Load())&semWaiters, "sleepers raise the waiters flag")
	require.NoError(t, s.ReleaseN(2))
	require.NoError(t, s.ReleaseN(3))
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 0, s.Value())
}

func TestSemaphoreSize(t *testing.T) {
	require.Equal(t, uintptr(SemaphoreSize), unsafe.Sizeof(Semaphore{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(Semaphore{}))
}
