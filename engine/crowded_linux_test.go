//go:build linux

package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/internal/testproc"
)

// A job never waits for a worker that is not running: with one worker of
// a team of 8 stopped (SIGSTOP, as a worker descheduled for a long time on
// a machine with fewer CPUs than workers), static jobs still finish, the
// stopped worker's block run by a worker that is running, and so do jobs
// of every other schedule. Deterministic: the stopped worker cannot run at
// all, so a job that waited for it would not finish within the test's
// bound (no stall limit is set).
func TestJobsDoNotWaitForStoppedWorker(t *testing.T) {
	for _, primary := range []bool{false, true} {
		t.Run(fmt.Sprintf("primary=%v", primary), func(t *testing.T) {
			const w = 8
			team := teamtest.Team(t, engine.Workers(w), engine.Primary(primary))
			a := teamtest.Array[int64](t, w)
			ctx := teamtest.Ctx(t)
			require.NoError(t, workerIDK.For(ctx, team, w, fillArgs{A: a}))

			const stopped = 3
			pid := team.PIDs()[stopped]
			require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
			defer func() { require.NoError(t, syscall.Kill(pid, syscall.SIGCONT)) }()
			waitStopped(t, pid)

			for range 50 {
				clear(a.Data())
				for i := range a.Data() {
					a.Data()[i] = -1
				}
				jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				require.NoError(t, workerIDK.For(jctx, team, w, fillArgs{A: a}, engine.Static()))
				cancel()
				for i, v := range a.Data() {
					require.True(t, v >= 0 && v < w && v != stopped, "block %d ran on participant %d", i, v)
				}
			}
			for _, opt := range []engine.Option{engine.Dynamic(1), engine.Guided(1), engine.Deterministic(1)} {
				b := teamtest.Array[int64](t, 1000)
				jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				require.NoError(t, fillK.For(jctx, team, 1000, fillArgs{A: b}, opt))
				cancel()
				for i, v := range b.Data() {
					require.Equal(t, int64(1), v, "element %d", i)
				}
			}
		})
	}
}

// waitStopped waits until process pid is in the stopped state.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	testproc.WaitFor(t, fmt.Sprintf("process %d to stop", pid), func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		// pid (comm) state ...: the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		return i >= 0 && i+2 < len(b) && b[i+2] == 'T'
	})
}
