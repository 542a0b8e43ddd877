package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/internal/testproc"
)

// runNoMain is a program that forgot engine.Main: it starts a team. In the
// coordinator Start must fail with ErrNoMain; in the re-executed workers
// (which run this again) Start must end the process at once.
func runNoMain() int {
	_, err := engine.Start(engine.Workers(2), engine.HelloTimeout(30*time.Second))
	fmt.Printf("start error: %v\n", err)
	return 0
}

// runCoordinator starts a team, runs a job on every worker, reports its
// own and its workers' pids and waits to be killed.
func runCoordinator() error {
	team, err := engine.Start(engine.Workers(2))
	if err != nil {
		return err
	}
	if err := noopK.For(context.Background(), team, 2, struct{}{}, engine.Static()); err != nil {
		return err
	}
	lines := []string{strconv.Itoa(os.Getpid())}
	for _, pid := range team.PIDs() {
		lines = append(lines, strconv.Itoa(pid))
	}
	if err := teamtest.Report(lines...); err != nil {
		return err
	}
	time.Sleep(time.Minute)
	return errors.New("not killed within a minute")
}

func TestForgottenMain(t *testing.T) {
	got, err := testproc.Start("nomain", envNoMain+"=1").Wait()
	require.NoError(t, err, "a program without engine.Main: %s", got)
	require.Contains(t, got, "start error:")
	require.Contains(t, got, engine.ErrNoMain.Error())
	require.Contains(t, got, "Start called in a process shmpar started (a worker)", "the worker's own message is quoted")
	require.Equal(t, 1, strings.Count(got, "start error:"), "workers must not print: they exit in Start")
}

func TestCoordinatorKilled(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	coord := testproc.Start("coord", "SHMPAR_DIR="+dir, teamtest.EnvReport+"="+report)
	lines := teamtest.AwaitReport(t, report)
	require.Len(t, lines, 3, "the coordinator's pid and its 2 workers'")
	var pids []int
	for _, l := range lines {
		pid, err := strconv.Atoi(l)
		require.NoError(t, err)
		require.Positive(t, pid)
		pids = append(pids, pid)
	}
	require.NoError(t, syscall.Kill(pids[0], syscall.SIGKILL))
	_, err := coord.Wait()
	require.ErrorContains(t, err, "killed")

	for _, pid := range pids[1:] {
		teamtest.AwaitGone(t, pid, 2*time.Second)
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"report"}, names(ents), "the team left files in the segment directory")
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
