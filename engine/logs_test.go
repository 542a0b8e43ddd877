package engine_test

import (
	"log/slog"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

// slogK logs from a kernel.
var slogK = engine.Register("slog-kernel", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
	slog.Info("from a kernel", "name", engine.ProcessName())
	return nil
})

// A team's worker processes log with their name and pid.
func TestTeamWorkerLogs(t *testing.T) {
	var errOut teamtest.SyncBuffer
	team, err := engine.Start(engine.Workers(2), engine.Stderr(&errOut))
	require.NoError(t, err)
	defer team.Close()
	require.NoError(t, slogK.For(teamtest.Ctx(t), team, 2, struct{}{}, engine.Static()))
	pids := team.PIDs()
	require.NoError(t, team.Close(), "Close waits for the workers' output")
	got := errOut.String()
	m := regexp.MustCompile(`worker=(\d+) pid=(\d+) name=worker-(\d+)`).FindAllStringSubmatch(got, -1)
	require.NotEmpty(t, m, got)
	for _, f := range m {
		require.Equal(t, f[1], f[3], got)
		i, _ := strconv.Atoi(f[1])
		require.Equal(t, strconv.Itoa(pids[i]), f[2], got)
	}
	require.Equal(t, "main", engine.ProcessName(), "the coordinator's name")
}
