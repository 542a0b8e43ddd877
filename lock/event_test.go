//go:build linux

package lock

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func init() {
	// eventwait I: raise the flag, wait (bounded) for the event at offPrim,
	// record the outcome in slot offAux+4*I.
	children["eventwait"] = func(mem []byte, args []string) error {
		e, err := Place[Event](mem, offPrim)
		if err != nil {
			return err
		}
		memU32(mem, offFlag).Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res := uint32(resOther)
		if e.WaitContext(ctx) == nil {
			res = resLocked
		}
		memU32(mem, offAux+4*atoi(args[0])).Store(res)
		return nil
	}
}

func TestEventProcesses(t *testing.T) {
	for _, pulse := range []bool{false, true} {
		name := map[bool]string{false: "set", true: "set-then-clear"}[pulse]
		t.Run(name, func(t *testing.T) {
			s := newShared(t)
			e, err := Place[Event](s.mem, offPrim)
			require.NoError(t, err)
			const waiters = 3
			kids := make([]*child, waiters)
			for i := range kids {
				kids[i] = startChild(t, s, "eventwait", i)
			}
			testproc.WaitFor(t, "waiters", func() bool { return s.u32(offFlag).Load() == waiters })
			for _, k := range kids {
				s.waitChildAsleep(t, k, offPrim)
			}
			e.Set()
			if pulse {
				e.Clear() // a Wait under way still returns
			}
			for i, k := range kids {
				k.WaitOK(t)
				require.Equal(t, uint32(resLocked), s.u32(offAux+4*i).Load())
			}
			require.Equal(t, !pulse, e.IsSet())
		})
	}
}

func TestEvent(t *testing.T) {
	var e Event
	require.False(t, e.IsSet())
	require.ErrorIs(t, e.WaitContext(deadline(t, 20*time.Millisecond)), context.DeadlineExceeded)
	e.Set()
	e.Set()
	require.True(t, e.IsSet())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, e.WaitContext(ctx), "a set event returns at once")
	require.NoError(t, e.Wait(), "a set event returns at once")
	e.Clear()
	e.Clear()
	require.False(t, e.IsSet())
	require.ErrorIs(t, e.WaitContext(ctx), context.Canceled)

	ctx, cancel = context.WithCancel(context.Background())
	check := cancelWhenAsleep(t, 1, e.key(), cancel)
	require.ErrorIs(t, e.WaitContext(ctx), context.Canceled)
	check()

	done := make(chan error, 1)
	go func() { done <- e.WaitContext(deadline(t, 20*time.Second)) }()
	waitAsleep(t, 1, e.key())
	e.Set()
	require.NoError(t, <-done)

	// Wait without a context sleeps too, until a Set.
	e.Clear()
	go func() { done <- e.Wait() }()
	waitAsleep(t, 1, e.key())
	e.Set()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Wait was not woken by Set")
	}
}

func TestEventSize(t *testing.T) {
	require.Equal(t, uintptr(EventSize), unsafe.Sizeof(Event{}))
	require.Equal(t, uintptr(8), unsafe.Alignof(Event{}))
}
