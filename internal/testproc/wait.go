package testproc

import (
	"fmt"
	"testing"
	"time"
)

// PollTimeout bounds WaitFor and Poll.
const PollTimeout = 20 * time.Second

// pollTimeout is PollTimeout, shortened by the package's own tests.
var pollTimeout = PollTimeout

// WaitFor polls cond until it holds, failing the test if it does not within
// PollTimeout. Use it to wait for state another process changes (a flag in
// shared memory, a waiter bit in a lock word), never for time to pass.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if err := Poll(what, cond); err != nil {
		tb.Fatal(err)
	}
}

// Poll is WaitFor for code that has no testing.TB, such as a child's role:
// it returns an error if cond does not hold within PollTimeout.
func Poll(what string, cond func() bool) error {
	deadline := time.Now().Add(pollTimeout)
	pause := 20 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", pollTimeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Millisecond)
	}
	return nil
}

// WaitAsleep waits until at least n threads of process pid are asleep in
// the kernel on the futex word at address addr of that process (see
// FutexSleepers), and fails the test if they are not within PollTimeout. A
// test of a wake-up, a cancellation or a death detected by a sleeper calls it
// first, so that it fails when the sleeping path was never taken.
func WaitAsleep(tb testing.TB, n, pid int, addr uintptr) {
	tb.Helper()
	var lastErr error
	err := Poll(fmt.Sprintf("%d thread(s) of process %d to sleep on the futex word at %#x", n, pid, addr), func() bool {
		k, err := FutexSleepers(pid, addr)
		lastErr = err
		return err == nil && k >= n
	})
	if err != nil {
		if lastErr != nil {
			err = fmt.Errorf("%w (last error: %w)", err, lastErr)
		}
		tb.Fatal(err)
	}
}

// WhenAsleep calls f, from a new goroutine, once at least n threads of
// process pid sleep on the futex word at addr, or once PollTimeout passed
// without that. The returned function waits for f to have been called and
// reports the second case as an error. Use it to cancel or wake a call that
// the test goroutine itself is blocked in:
//
//	done := testproc.WhenAsleep(1, os.Getpid(), addr, cancel)
//	err := m.LockContext(ctx) // returns once cancelled
//	require.NoError(t, done())
func WhenAsleep(n, pid int, addr uintptr, f func()) (done func() error) {
	errc := make(chan error, 1)
	go func() {
		err := Poll(fmt.Sprintf("%d thread(s) of process %d to sleep on the futex word at %#x", n, pid, addr), func() bool {
			k, err := FutexSleepers(pid, addr)
			return err == nil && k >= n
		})
		f()
		errc <- err
	}()
	return func() error { return <-errc }
}
