//go:build linux

package futex

import (
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func TestWaitValueMismatchReturnsAtOnce(t *testing.T) {
	var w uint32 = 1
	require.NoError(t, Wait(&w, 0, time.Second)) // *addr != val: EAGAIN, no sleep
}

func TestWaitTimeout(t *testing.T) {
	var w uint32
	requireTimeout(t, func() error { return Wait(&w, 0, 5*time.Millisecond) })
}

// requireTimeout calls wait until it returns an error, which must be
// ErrTimeout. A sleep may end early with nil, as a wake-up does, when a
// signal interrupts it (the runtime signals threads to preempt them, and a
// held sleep looks like running Go code to it); what must come, and within
// the test's bound, is the timeout.
func requireTimeout(t *testing.T, wait func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := wait(); err != nil {
			require.ErrorIs(t, err, ErrTimeout)
			return
		}
		require.True(t, time.Now().Before(deadline), "the wait never timed out")
	}
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
	testproc.WaitAsleep(t, 1, os.Getpid(), uintptr(unsafe.Pointer(&w)))
	w.Store(1)
	n, err := Wake((*uint32)(unsafe.Pointer(&w)), 1)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the sleeper was there to wake")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waiter was not woken")
	}
}

func TestWaitHeld(t *testing.T) {
	var w uint32 = 1
	require.NoError(t, WaitHeld(&w, 0, time.Second), "value mismatch returns at once")
	w = 0
	requireTimeout(t, func() error { return WaitHeld(&w, 0, 5*time.Millisecond) })
	require.Error(t, WaitHeld(&w, 0, 0), "a held sleep must be bounded")
}

// TestWaitHeldWake: a held sleeper is woken like any other, and the rest of
// the process keeps running meanwhile on another P. (The sleeper keeps its
// P: with one P, as go test gives a process limited to one CPU, nothing else
// would run until sysmon preempted it, so the test asks for two.)
func TestWaitHeldWake(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	var w atomic.Uint32
	done := make(chan struct{})
	go func() {
		defer close(done)
		for w.Load() == 0 { // each sleep outlasts the test's bound: only Wake ends it in time
			_ = WaitHeld((*uint32)(unsafe.Pointer(&w)), 0, 30*time.Second)
		}
	}()
	testproc.WaitAsleep(t, 1, os.Getpid(), uintptr(unsafe.Pointer(&w)))
	w.Store(1)
	// No count check here: sysmon may interrupt a held sleep with a
	// preemption signal at any moment, and the sleeper then sleeps again.
	_, err := Wake((*uint32)(unsafe.Pointer(&w)), 1)
	require.NoError(t, err)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("held waiter was not woken")
	}
	require.Equal(t, uint32(1), w.Load())
}
