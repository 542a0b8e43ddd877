package engine_test

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

// StallLimit is one option for both places it applies.
var (
	_ engine.TeamOption   = engine.StallLimit(time.Second)
	_ engine.KernelOption = engine.StallLimit(time.Second)
	_ engine.TeamOption   = engine.Goroutine
)

const envOptA, envOptB = "SHMPAR_TEST_OPT_A", "SHMPAR_TEST_OPT_B"

// optionsK prints, from each worker process that runs a chunk, what the
// team's options set there: its environment and GOMAXPROCS.
var optionsK = engine.Register("test-options", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
	fmt.Printf("worker %d: %s=%s %s=%s GOMAXPROCS=%d\n", c.Worker(), envOptA, os.Getenv(envOptA), envOptB, os.Getenv(envOptB), runtime.GOMAXPROCS(0))
	return nil
})

// TestStartOptionErrors: a value out of range is an error from Start that
// names the option, and no team is started.
func TestStartOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opt  engine.TeamOption
		want string
	}{
		{engine.Workers(-1), "Workers(-1)"},
		{engine.Workers(engine.MaxWorkers + 1), fmt.Sprintf("Workers(%d)", engine.MaxWorkers+1)},
		{engine.MaxArgs(1<<30 + 1), fmt.Sprintf("MaxArgs(%d)", 1<<30+1)},
		{engine.Backend(7), "Backend(7), want Process or Goroutine"},
		{engine.ShareNode(0, 2), "ShareNode(0, 2)"},
		{engine.ShareNode(2, 0), "ShareNode(2, 0)"},
		{engine.ShareNode(-1, -1), "ShareNode(-1, -1)"},
	} {
		for _, b := range []engine.Backend{engine.Process, engine.Goroutine} {
			team, err := engine.Start(b, c.opt)
			require.ErrorIs(t, err, engine.ErrBadOption, "%s", b)
			require.ErrorContains(t, err, c.want, "%s", b)
			require.Nil(t, team)
		}
	}
	// The largest values allowed, and nil options, are fine.
	team := teamtest.Team(t, nil, engine.Goroutine, engine.Workers(engine.MaxWorkers), engine.MaxArgs(1<<30), nil)
	require.Equal(t, engine.MaxWorkers, team.Workers())
}

// TestLaterOptionWins: an option given twice takes its later value.
func TestLaterOptionWins(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(3), engine.Process, engine.Goroutine, engine.Workers(2), engine.Spin(time.Millisecond), engine.Spin(2*time.Millisecond))
	require.Equal(t, engine.Goroutine, team.Backend())
	require.Equal(t, 2, team.Workers())
	require.Equal(t, 2*time.Millisecond, team.Spin())

	team = teamtest.Team(t, engine.Workers(2), engine.Primary(true), engine.Primary(false))
	pids := team.PIDs()
	require.Len(t, pids, 2, "two worker processes: the coordinator does not take part")
	require.NotContains(t, pids, os.Getpid())

	team = teamtest.Team(t, engine.Workers(2), engine.Primary(false), engine.Primary(true))
	require.Equal(t, os.Getpid(), team.PIDs()[0], "the coordinator is participant 0")
}

// TestDefaults: no option is a process team with one worker per usable CPU
// that spins DefaultSpin; 0 means the default where it is documented so.
func TestDefaults(t *testing.T) {
	team := teamtest.Team(t, engine.Goroutine)
	require.Equal(t, engine.UsableCPUs(), team.Workers())
	require.Equal(t, engine.DefaultSpin, team.Spin())
	team = teamtest.Team(t, engine.Goroutine, engine.Workers(0), engine.Spin(0))
	require.Equal(t, engine.UsableCPUs(), team.Workers())
	require.Equal(t, engine.DefaultSpin, team.Spin())
	team = teamtest.Team(t, engine.Goroutine, engine.Spin(-1))
	require.Negative(t, team.Spin())
}

// TestShareNode: teams that together have more workers than their node has
// CPUs never spin, unless a Spin was set; Workers is resolved first.
func TestShareNode(t *testing.T) {
	for _, c := range []struct {
		teams, workers, cpus int
		oversubscribed       bool
	}{
		{1, 2, 2, false}, {2, 1, 2, false}, {3, 1, 2, true}, {2, 2, 2, true},
		{1, 32, 32, false}, {2, 16, 32, false}, {2, 32, 32, true}, {2, 16, 31, true},
		{math.MaxInt, 1, 2, true}, {1, engine.MaxWorkers, math.MaxInt, false},
	} {
		for _, opts := range [][]engine.TeamOption{
			{engine.ShareNode(c.teams, c.cpus), engine.Workers(c.workers)},
			{engine.Workers(c.workers), engine.ShareNode(c.teams, c.cpus)},
		} {
			team := teamtest.Team(t, append(opts, engine.Goroutine)...)
			if c.oversubscribed {
				require.Negative(t, team.Spin(), "%+v", c)
			} else {
				require.Equal(t, engine.DefaultSpin, team.Spin(), "%+v", c)
			}
		}
		for _, opts := range [][]engine.TeamOption{
			{engine.ShareNode(c.teams, c.cpus), engine.Spin(5)},
			{engine.Spin(5), engine.ShareNode(c.teams, c.cpus)},
		} {
			team := teamtest.Team(t, append(opts, engine.Workers(c.workers), engine.Goroutine)...)
			require.EqualValues(t, 5, team.Spin(), "a Spin that was set is kept: %+v", c)
		}
	}
	cpus := engine.UsableCPUs()
	team := teamtest.Team(t, engine.ShareNode(2, cpus), engine.Goroutine)
	require.Equal(t, cpus, team.Workers())
	require.Negative(t, team.Spin(), "two teams of the default size on the usable CPUs")
	team = teamtest.Team(t, engine.ShareNode(1, cpus), engine.Goroutine)
	require.Positive(t, team.Spin(), "one team of the default size on the usable CPUs")
}

// TestWorkerProcessOptions: Env (given twice: both add), GOMAXPROCS and
// Stdout reach the worker processes.
func TestWorkerProcessOptions(t *testing.T) {
	var out teamtest.SyncBuffer
	team, err := engine.Start(engine.Workers(2), engine.Env(envOptA+"=a"), engine.Env(envOptB+"=b"), engine.GOMAXPROCS(3), engine.Stdout(&out))
	require.NoError(t, err)
	require.NoError(t, optionsK.For(teamtest.Ctx(t), team, 2, struct{}{}, engine.Static()))
	require.NoError(t, team.Close()) // waits for the workers' output to be copied
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		require.Regexp(t, fmt.Sprintf(`^worker [01]: %s=a %s=b GOMAXPROCS=3$`, envOptA, envOptB), l)
	}
}
