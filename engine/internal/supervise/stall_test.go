//go:build linux

package supervise

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/proc"
)

// The stall rule on real processes: a process that computes, or whose
// words move, is not stalled; one asleep or stopped for the limit is; one
// that has exited never is. The clock is the caller's, so the limit is
// reached by passing later times, not by waiting.
func TestWatch(t *testing.T) {
	const limit = time.Second
	var none Watch
	_, stalled := none.Stalled([4]uint64{}, time.Now(), limit)
	require.False(t, stalled, "the zero Watch watches nothing")

	sleeper := exec.Command("sleep", "60")
	require.NoError(t, sleeper.Start())
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	pid := sleeper.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := proc.State(pid); err == nil && st == 'S' {
			break
		}
		require.True(t, time.Now().Before(deadline), "sleep(1) never slept")
		time.Sleep(time.Millisecond)
	}

	t0 := time.Now()
	var w Watch
	w.Start(pid, [4]uint64{1}, t0)
	require.Equal(t, pid, w.PID())
	idle, stalled := w.Stalled([4]uint64{1}, t0.Add(limit/2), limit)
	require.False(t, stalled)
	require.Equal(t, limit/2, idle)
	_, stalled = w.Stalled([4]uint64{2}, t0.Add(limit), limit)
	require.False(t, stalled, "its words moved")
	idle, stalled = w.Stalled([4]uint64{2}, t0.Add(2*limit+time.Millisecond), limit)
	require.True(t, stalled, "asleep with no progress for the limit")
	require.Equal(t, limit+time.Millisecond, idle)
	require.Contains(t, "SD", string(w.State()))

	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	for deadline := time.Now().Add(10 * time.Second); ; {
		w.Start(pid, [4]uint64{}, t0)
		_, stalled = w.Stalled([4]uint64{}, t0.Add(limit), limit)
		if stalled && w.State() == 'T' {
			break
		}
		require.True(t, time.Now().Before(deadline), "the stopped process is not seen stopped")
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, "stopped by a signal (state T)", DescribeState(w.State()))

	require.NoError(t, sleeper.Process.Kill())
	_ = sleeper.Wait()
	w.Start(pid, [4]uint64{}, t0)
	_, stalled = w.Stalled([4]uint64{}, t0.Add(10*limit), limit)
	require.False(t, stalled, "a process that has exited is not stalled")

	// This process computes: its CPU time moves by more than 1/MinCPU of
	// the time between two reads.
	me := os.Getpid()
	now := time.Now()
	w.Start(me, [4]uint64{}, now)
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	_, stalled = w.Stalled([4]uint64{}, now.Add(limit), limit)
	require.False(t, stalled, "a process that computes is making progress")
}
