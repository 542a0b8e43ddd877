package engine_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/supervise"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

// The supervision hooks the pool uses see the team's worker processes and
// kill exactly the one named.
func TestSupervisionHooks(t *testing.T) {
	_, ok := supervise.Of("not a team")
	require.False(t, ok)

	team := teamtest.Team(t, engine.Workers(3), engine.Primary(true), engine.CancelGrace(300*time.Millisecond))
	h, ok := supervise.Of(team)
	require.True(t, ok)
	require.True(t, h.Process())
	require.Equal(t, 1, h.First(), "with Primary the coordinator is participant 0")
	require.Equal(t, 300*time.Millisecond, h.CancelGrace())
	require.Equal(t, engine.DefaultSpin, h.Spin())
	require.Equal(t, engine.DefaultStallLimit, h.StallLimit())
	pids := team.PIDs()
	require.Nil(t, h.Exited(0, pids[0]), "the coordinator is no worker process")
	require.Nil(t, h.Exited(1, pids[2]), "slot and pid must match")
	exit := h.Exited(1, pids[1])
	require.NotNil(t, exit)
	how, _, _ := h.ExitInfo(1, pids[1])
	require.Equal(t, "was lost", how, "not exited yet")

	h.Kill(1, pids[1])
	select {
	case <-exit:
	case <-time.After(20 * time.Second):
		t.Fatal("the killed worker did not exit in 20 s")
	}
	how, sig, _ := h.ExitInfo(1, pids[1])
	require.Equal(t, syscall.SIGKILL, sig)
	require.Contains(t, how, "killed by signal 9")
	require.NoError(t, syscall.Kill(pids[2], 0), "the other worker lives")

	require.False(t, h.Closed())
	require.NoError(t, team.Close())
	require.True(t, h.Closed())

	g := teamtest.Team(t, engine.Workers(2), engine.Goroutine)
	gh, ok := supervise.Of(g)
	require.True(t, ok)
	require.False(t, gh.Process())
	require.Zero(t, gh.First())
	off := teamtest.Team(t, engine.Workers(1), engine.StallLimit(-1))
	oh, _ := supervise.Of(off)
	require.Negative(t, oh.StallLimit(), "a negative limit means none")
	require.Nil(t, gh.Exited(0, 1))
}
