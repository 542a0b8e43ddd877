//go:build linux

package futex

import (
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestWaitValueMismatchReturnsAtOnce(t *testing.T) {
	var w uint32 = 1
	require.NoError(t, Wait(&w, 0, time.Second)) // *addr != val: EAGAIN, no sleep
}

func TestWaitTimeout(t *testing.T) {
	var w uint32
	require.ErrorIs(t, Wait(&w, 0, 5*time.Millisecond), ErrTimeout)
}

func TestWake(t *testing.T) {
	var w atomic.Uint32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for w.Load() == 0 {
			_ = Wait((*uint32)(unsafe.Pointer(&w)), 0, 10*time.Second) // bounded
		}
	}()
	time.Sleep(10 * time.Millisecond)
	w.Store(1)
	_, err := Wake((*uint32)(unsafe.Pointer(&w)), 1)
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter was not woken")
	}
}
