package engine_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/shm"
)

// awaitExit waits until child process pid has exited, without reaping it
// (the team's own goroutine does): waitid with WNOWAIT returns once the
// process can be waited for, ECHILD once it has been.
func awaitExit(t *testing.T, pid int) {
	t.Helper()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil || errors.Is(err, unix.ECHILD) {
			return
		}
		require.ErrorIs(t, err, unix.EINTR)
	}
}

// The first job after a worker process has exited runs on a full team, even
// when it starts before the team's goroutine that waits for the dead
// process has run: no zombie pid and no 0 in PIDs, and every participant
// takes part.
func TestFirstJobAfterDeathRunsOnFullTeam(t *testing.T) {
	const workers = 2
	team := teamtest.Team(t, engine.Workers(workers))
	for round := range 20 {
		pids := team.PIDs()
		victim := pids[round%workers]
		require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
		awaitExit(t, victim)
		gate := teamtest.Array[int64](t, 1+workers)
		err := meetK.For(teamtest.Ctx(t), team, workers, meetArgs{Gate: gate, Want: workers, Wait: 2 * time.Second}, engine.Static())
		require.NoError(t, err, "round %d: the job after the death of %d did not run on a full team", round, victim)
		ran := map[int]bool{}
		for _, pid := range gate.Data()[1 : 1+workers] {
			ran[int(pid)] = true
		}
		after := team.PIDs()
		require.Len(t, ran, workers, "round %d: %d participants ran the job", round, len(ran))
		for _, pid := range after {
			require.NotZero(t, pid, "round %d: PIDs %v", round, after)
			require.NotEqual(t, victim, pid, "round %d: PIDs %v still has the dead worker", round, after)
			require.True(t, ran[pid], "round %d: worker %d of %v did not take part", round, pid, after)
		}
	}
}

// A replacement worker killed while it starts is started again: the job
// that needed it succeeds. So does Start when a first worker is killed
// before it reports ready.
func TestWorkerKilledWhileStarting(t *testing.T) {
	dir := t.TempDir()
	armed, fired := filepath.Join(dir, "armed"), filepath.Join(dir, "fired")
	arm := func() {
		require.NoError(t, os.WriteFile(armed, nil, 0o600))
		_ = os.Remove(fired)
	}
	arm()
	team := teamtest.Team(t, engine.Workers(2), engine.Env(envDieAtStart+"="+dir))
	require.FileExists(t, fired, "no worker died while Start waited for it")
	for _, p := range team.PIDs() {
		require.NotZero(t, p)
	}

	arm()
	victim := team.PIDs()[1]
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	awaitExit(t, victim)
	a := teamtest.Array[int64](t, 1000)
	require.NoError(t, killIdemK.For(teamtest.Ctx(t), team, 1000, failArgs{At: -1, A: a, Once: teamtest.Array[int64](t, 1)}, engine.Dynamic(10)))
	require.FileExists(t, fired, "the replacement did not die while starting")
	for i, v := range a.Data()[:1000] {
		require.Equal(t, 2*int64(i), v, "element %d", i)
	}
	after := team.PIDs()
	require.NotContains(t, after, victim)
	require.NotContains(t, after, 0)

	// A worker that exits with a status before it is ready is not
	// started again: Start says why, at once.
	var stderr teamtest.SyncBuffer
	_, err := engine.Start(engine.Workers(1), engine.Env(envNoMain+"=1"), engine.Stderr(&stderr))
	require.ErrorIs(t, err, engine.ErrNoMain)
	require.Equal(t, 1, strings.Count(stderr.String(), "engine.Main() must be the first call"), "started once: %s", stderr.String())
}

// A worker keeps a bounded number of the arrays it was given attached: with
// an open-file limit of 32 it runs jobs over 40 distinct named arrays in
// turn, holding at most a quarter of its limit of them at a time. A job
// whose own arguments need more descriptors than the limit fails with
// ErrFileLimit, clearly, and the worker goes on.
func TestWorkerAttachCacheBounded(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1))
	ctx := teamtest.Ctx(t)
	pid := team.PIDs()[0]
	require.NoError(t, unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 32, Max: 32}, nil))
	dir := t.TempDir()
	attachedHere := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		require.NoError(t, err)
		n := 0
		for _, e := range ents {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && strings.HasPrefix(l, dir) {
				n++
			}
		}
		return n
	}
	var all []*array.Array[int64]
	for i := range 40 {
		a, err := array.Create[int64](fmt.Sprintf("bound-%d", i), 100, shm.Dir(dir))
		require.NoError(t, err)
		t.Cleanup(func() { a.Close() })
		all = append(all, a)
		require.NoError(t, fillK.For(ctx, team, 100, fillArgs{A: a}), "array %d", i)
		for j, v := range a.Data()[:100] {
			require.Equal(t, int64(1), v, "array %d element %d", i, j)
		}
		require.LessOrEqual(t, attachedHere(), 32/4, "after array %d", i)
	}
	require.Equal(t, []int{pid}, team.PIDs(), "one worker ran every job")

	err := manyK.For(ctx, team, 100, manyArgs{As: all})
	var we *engine.WorkerError
	require.ErrorAs(t, err, &we)
	require.ErrorIs(t, err, engine.ErrFileLimit)
	require.Contains(t, err.Error(), "RLIMIT_NOFILE")
	require.Contains(t, err.Error(), "32")
	require.Equal(t, []int{pid}, team.PIDs(), "the worker survives")

	require.NoError(t, manyK.For(ctx, team, 100, manyArgs{As: all[:5]}))
	for i, a := range all[:5] {
		require.Equal(t, int64(2), a.Data()[99], "array %d", i)
	}
}
