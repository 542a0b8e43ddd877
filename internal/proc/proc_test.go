//go:build linux

package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSelfAlive(t *testing.T) {
	id := Self()
	require.Equal(t, os.Getpid(), id.PID)
	require.NotZero(t, id.Start)
	alive, err := Alive(id)
	require.NoError(t, err)
	require.True(t, alive)
}

func TestReusedPIDIsDead(t *testing.T) {
	id := Self()
	id.Start++ // same pid, another incarnation
	alive, err := Alive(id)
	require.NoError(t, err)
	require.False(t, alive)
}

func TestExitedAndZombie(t *testing.T) {
	cmd := exec.Command("true")
	require.NoError(t, cmd.Start())
	st, err := StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("start time of a just-started child: %v", err)
	}
	id := ID{PID: cmd.Process.Pid, Start: st}
	// Not reaped yet: once it exits it is a zombie, which must count as dead.
	deadline := 0
	for {
		alive, err := Alive(id)
		require.NoError(t, err)
		if !alive {
			break
		}
		deadline++
		require.Less(t, deadline, 100000, "child never became a zombie")
	}
	require.NoError(t, cmd.Wait())
	alive, err := Alive(id)
	require.NoError(t, err)
	require.False(t, alive)
	alive, err = Alive(ID{})
	require.NoError(t, err)
	require.False(t, alive)
}

func TestChildren(t *testing.T) {
	// A child that waits on its stdin is alive until the pipe closes; then
	// it is a zombie until reaped, and no child at all after.
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	find := func() (Child, bool) {
		kids, err := Children(os.Getpid())
		require.NoError(t, err)
		for _, k := range kids {
			if k.PID == pid {
				return k, true
			}
		}
		return Child{}, false
	}
	k, ok := find()
	require.True(t, ok, "a running child is listed")
	require.False(t, k.Zombie)
	st, err := StartTime(pid)
	require.NoError(t, err)
	require.Equal(t, st, k.Start)

	require.NoError(t, stdin.Close())
	deadline := time.Now().Add(20 * time.Second)
	for { // cat exits at EOF; until reaped it is a zombie
		k, ok = find()
		require.True(t, ok, "an exited child stays a child until reaped")
		if k.Zombie {
			break
		}
		require.True(t, time.Now().Before(deadline), "child never became a zombie")
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, cmd.Wait())
	_, ok = find()
	require.False(t, ok, "a reaped child is gone")
}

func TestParseStat(t *testing.T) {
	line := []byte("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0\n")
	st, err := parseStat(line)
	require.NoError(t, err)
	require.Equal(t, statFields{state: 'S', ppid: 1, start: 987654}, st)
	for _, bad := range []string{"", "42 (x", "42 (x) S 1",
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 notanumber",
		"42 (x) S ppid 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19"} {
		_, err := parseStat([]byte(bad))
		require.ErrorIs(t, err, errMalformed, "%q", bad)
	}
}

func TestStateAndCPUTime(t *testing.T) {
	st, err := State(os.Getpid())
	require.NoError(t, err)
	require.Contains(t, "RS", string(st), "this process's main thread runs or waits")

	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := State(pid); err == nil && st == 'S' {
			break
		}
		require.True(t, time.Now().Before(deadline), "sleep(1) never slept")
		time.Sleep(time.Millisecond)
	}
	idle, err := CPUTime(pid)
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond)
	again, err := CPUTime(pid)
	require.NoError(t, err)
	require.Equal(t, idle, again, "a sleeping process uses no CPU time")

	mine, err := CPUTime(os.Getpid())
	require.NoError(t, err)
	for deadline := time.Now().Add(10 * time.Second); ; {
		now, err := CPUTime(os.Getpid())
		require.NoError(t, err)
		if now > mine {
			break
		}
		require.True(t, time.Now().Before(deadline), "this process's CPU time did not move")
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	_, err = CPUTime(pid)
	require.Error(t, err, "a reaped process has no CPU clock")
	_, err = State(pid)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0\n"))
	f.Add([]byte("1 (init) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStat(b) // must not panic
	})
}
