//go:build linux

package lock

import (
	"context"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

// Cond tests share: the Mutex at offMutex, the Cond at offPrim, the number
// of queued items at offCounter (plain, under the Mutex) and the number
// consumed at offCounter+8 (plain, under the Mutex).
func init() {
	// consume: take items until the producer's quota (arg 0) is consumed.
	children["consume"] = func(mem []byte, args []string) error {
		m, err := Place[Mutex](mem, offMutex)
		if err != nil {
			return err
		}
		c, err := Place[Cond](mem, offPrim)
		if err != nil {
			return err
		}
		items := (*uint64)(unsafePointer(mem, offCounter))
		consumed := (*uint64)(unsafePointer(mem, offCounter+8))
		quota := uint64(atoi(args[0]))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		memU32(mem, offFlag).Add(1)
		if err := m.Lock(); err != nil {
			return err
		}
		for *consumed < quota {
			if *items == 0 {
				if err := c.WaitContext(ctx, m); err != nil {
					return err
				}
				continue
			}
			*items--
			*consumed++
			c.Broadcast() // the producer and the other consumer may wait
		}
		return m.Unlock()
	}
}

func TestCondProcesses(t *testing.T) {
	const consumers, quota = 2, 2000
	s := newShared(t)
	m, err := Place[Mutex](s.mem, offMutex)
	require.NoError(t, err)
	c, err := Place[Cond](s.mem, offPrim)
	require.NoError(t, err)
	items, consumed := s.plain(offCounter), s.plain(offCounter+8)
	kids := make([]*child, consumers)
	for i := range kids {
		kids[i] = startChild(t, s, "consume", quota)
	}
	testproc.WaitFor(t, "consumers", func() bool { return s.u32(offFlag).Load() == consumers })
	ctx := deadline(t, 20*time.Second)
	// Produce one item at a time, at most 3 queued.
	require.NoError(t, m.Lock())
	for produced := 0; produced < quota; {
		if *items >= 3 {
			require.NoError(t, c.WaitContext(ctx, m))
			continue
		}
		*items++
		produced++
		c.Signal()
	}
	require.NoError(t, m.Unlock())
	for _, k := range kids {
		k.WaitOK(t)
	}
	require.Equal(t, uint64(quota), *consumed)
	require.Zero(t, *items)
}

func TestCondBroadcast(t *testing.T) {
	var m Mutex
	var c Cond
	ready := false
	const waiters = 4
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		wg.Go(func() {
			if err := m.Lock(); err != nil {
				errs <- err
				return
			}
			for !ready {
				if err := c.WaitContext(deadline(t, 20*time.Second), &m); err != nil {
					errs <- err
					return
				}
			}
			errs <- m.Unlock()
		})
	}
	testproc.WaitFor(t, "waiters", func() bool { return c.v.Load()>>32 == waiters })
	waitAsleep(t, waiters, c.key())
	require.NoError(t, m.Lock())
	ready = true
	require.NoError(t, m.Unlock())
	c.Broadcast()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Zero(t, c.v.Load()>>32, "waiter count back to zero")
}

func TestCondMisuseAndTimeout(t *testing.T) {
	var m Mutex
	var c Cond
	require.ErrorIs(t, c.Wait(&m), ErrNotOwner, "wait without holding the mutex")

	require.NoError(t, m.Lock())
	err := c.WaitContext(deadline(t, 20*time.Millisecond), &m)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, self, m.w.Load()&ownerMask, "the mutex is held again after a timeout")
	require.NoError(t, m.Unlock())
	c.Signal() // no waiters: no effect
	c.Broadcast()
}

func TestCondSize(t *testing.T) {
	require.Equal(t, uintptr(CondSize), unsafe.Sizeof(Cond{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(Cond{}))
}
