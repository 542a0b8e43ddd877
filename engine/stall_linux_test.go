package engine_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/internal/proc"
)

// The stall watch (the StallLimit option) across real processes: a worker
// stopped with SIGSTOP in the middle of a job, or between jobs, is killed
// and handled like a dead one, with no context deadline to end the job;
// a worker that computes, or calls Ctx.Progress, is left alone.

const testStallLimit = 300 * time.Millisecond

// forNoDeadline runs fn, which calls For on team with a context that has
// no deadline, and fails the test if it has not returned within
// teamtest.Timeout: a hang is a failure, not a stuck test (the team's
// workers are then killed, so that For and the team's Close return).
func forNoDeadline(t *testing.T, team *engine.Team, fn func(ctx context.Context) error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn(context.Background()) }()
	return awaitFor(t, team, done)
}

// awaitFor waits for a For running on team to send its result on done (see
// forNoDeadline).
func awaitFor(t *testing.T, team *engine.Team, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(teamtest.Timeout):
	}
	for _, pid := range team.PIDs() {
		if pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	select {
	case <-done:
	case <-time.After(teamtest.Timeout):
	}
	t.Fatalf("For did not return within %v: it waits for a stopped worker", teamtest.Timeout)
	return nil
}

// awaitState waits until process pid is in scheduling state st.
func awaitState(t *testing.T, pid int, st byte) {
	t.Helper()
	deadline := time.Now().Add(teamtest.Timeout)
	for {
		got, err := proc.State(pid)
		require.NoError(t, err)
		if got == st {
			return
		}
		require.True(t, time.Now().Before(deadline), "process %d is in state %c, not %c", pid, got, st)
		time.Sleep(time.Millisecond)
	}
}

// awaitPID waits until the kernel has recorded the pid of the worker
// running the chunk it waits in.
func awaitPID(t *testing.T, gate []int64) int {
	t.Helper()
	deadline := time.Now().Add(teamtest.Timeout)
	for {
		if pid := atomic.LoadInt64(&gate[0]); pid != 0 {
			return int(pid)
		}
		require.True(t, time.Now().Before(deadline), "no worker reached the chunk")
		time.Sleep(time.Millisecond)
	}
}

func TestStoppedWorkerMidJob(t *testing.T) {
	for _, idem := range []bool{true, false} {
		for _, s := range []struct {
			name string
			opt  engine.Option
		}{{"static", engine.Static()}, {"dynamic", engine.Dynamic(50)}, {"det", engine.Deterministic(64)}} {
			for _, workers := range []int{1, 2} {
				t.Run(fmt.Sprintf("idempotent=%v/%s/workers=%d", idem, s.name, workers), func(t *testing.T) {
					team := teamtest.Team(t, engine.Workers(workers), engine.StallLimit(testStallLimit))
					const n, at = 1000, 420
					a := teamtest.Array[int64](t, n)
					gate := teamtest.Array[int64](t, 2)
					k := stallK
					if idem {
						k = stallIdemK
					}
					args := stallArgs{A: a, Gate: gate, At: at, Spin: teamtest.Timeout, Idem: idem}
					done := make(chan error, 1)
					go func() { done <- k.For(context.Background(), team, n, args, s.opt) }()
					victim := awaitPID(t, gate.Data())
					require.NoError(t, syscall.Kill(victim, syscall.SIGSTOP))
					awaitState(t, victim, 'T')
					err := awaitFor(t, team, done)
					teamtest.AwaitGone(t, victim, teamtest.Timeout)
					d := a.Data()[:n]
					if idem {
						require.NoError(t, err)
						for i, v := range d {
							require.Equal(t, int64(1), v, "element %d", i)
						}
					} else {
						wes := engine.WorkerErrors(err)
						require.Len(t, wes, 1, "%v", err)
						we := wes[0]
						require.ErrorIs(t, err, engine.ErrStalled)
						require.ErrorIs(t, err, engine.ErrWorkerDied)
						require.Equal(t, victim, we.PID)
						require.Equal(t, syscall.SIGKILL, we.Signal)
						require.LessOrEqual(t, we.Lo, at)
						require.Less(t, at, we.Hi)
						require.Contains(t, err.Error(), "stopped by a signal (state T)")
						for i, v := range d {
							if i < we.Lo || i >= we.Hi {
								require.Equal(t, int64(1), v, "element %d outside the named chunk", i)
							} else {
								require.Zero(t, v, "element %d of the stopped chunk", i)
							}
						}
					}
					require.NotContains(t, team.PIDs(), victim)
				})
			}
		}
	}
}

// A worker stopped between jobs: a job on a team of one waits for it, and
// the watch replaces it; on a team of two the other worker does the job.
func TestStoppedWorkerBetweenJobs(t *testing.T) {
	for _, workers := range []int{1, 2} {
		for _, s := range schedules[:3] {
			t.Run(fmt.Sprintf("%s/workers=%d", s.name, workers), func(t *testing.T) {
				team := teamtest.Team(t, engine.Workers(workers), engine.StallLimit(testStallLimit))
				victim := team.PIDs()[0]
				require.NoError(t, syscall.Kill(victim, syscall.SIGSTOP))
				t.Cleanup(func() { syscall.Kill(victim, syscall.SIGCONT) })
				awaitState(t, victim, 'T')
				const n = 1000
				a := teamtest.Array[int64](t, n)
				err := forNoDeadline(t, team, func(ctx context.Context) error {
					return stallK.For(ctx, team, n, stallArgs{A: a}, s.opt)
				})
				require.NoError(t, err)
				for i, v := range a.Data()[:n] {
					require.Equal(t, int64(1), v, "element %d", i)
				}
				if workers == 1 {
					teamtest.AwaitGone(t, victim, teamtest.Timeout)
					require.NotContains(t, team.PIDs(), victim)
				}
			})
		}
	}
}

// Progress is CPU time, a chunk, or Ctx.Progress: a chunk that computes
// for several stall limits, or sleeps but calls Progress, is not killed;
// one that sleeps past the limit without is, unless its kernel is
// registered with StallLimit(-1) or the team's limit is negative.
func TestStallRule(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1), engine.StallLimit(testStallLimit))
	ctx := teamtest.Ctx(t)
	a := teamtest.Array[int64](t, 10)
	pid := team.PIDs()[0]
	gate := teamtest.Array[int64](t, 2)
	require.NoError(t, stallK.For(ctx, team, 10, stallArgs{A: a, Gate: gate, At: 0, Spin: 4 * testStallLimit}), "a computing chunk")
	require.NoError(t, stallK.For(ctx, team, 10, stallArgs{A: a, Nap: 4 * testStallLimit, Beat: testStallLimit / 10}), "a chunk calling Progress")
	require.NoError(t, stallExemptK.For(ctx, team, 10, stallArgs{A: a, Nap: 4 * testStallLimit}), "a kernel with StallLimit(-1)")
	require.NoError(t, stallK.For(ctx, team, 10, stallArgs{A: a, Nap: 4 * testStallLimit, Ctx: true}), "a kernel whose Ctx.Context polls")
	require.Equal(t, []int{pid}, team.PIDs(), "no worker was killed")

	err := stallK.For(ctx, team, 10, stallArgs{A: a, Nap: 20 * testStallLimit})
	require.ErrorIs(t, err, engine.ErrStalled)
	require.Contains(t, err.Error(), "asleep (state S)")
	teamtest.AwaitGone(t, pid, teamtest.Timeout)

	off := teamtest.Team(t, engine.Workers(1), engine.StallLimit(-1))
	pid = off.PIDs()[0]
	require.NoError(t, stallK.For(ctx, off, 10, stallArgs{A: a, Nap: 4 * testStallLimit}), "a team with no stall limit")
	require.Equal(t, []int{pid}, off.PIDs())
}
