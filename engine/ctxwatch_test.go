package engine_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/internal/testproc"
)

// The jobs of one context share one watch of it (one context.AfterFunc
// registration across calls): these tests end a context at each moment
// that sharing changes.

type startedArgs struct {
	A *array.Array[int64] // A[0] counts chunks that started
}

// startedWaitK marks that a chunk started, then waits (bounded) for the
// job to be stopped, and returns the job's Err.
var startedWaitK = engine.Register("started-wait", func(c *engine.Ctx, a startedArgs, lo, hi int) error {
	atomic.AddInt64(&a.A.Data()[0], 1)
	deadline := time.Now().Add(20 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c.Err() == nil {
		return errors.New("never stopped")
	}
	return c.Err()
})

// runStarted runs startedWaitK on team with ctx in a goroutine, waits until
// a chunk has started, runs end, and returns For's error.
func runStarted(t *testing.T, ctx context.Context, team *engine.Team, end func()) error {
	t.Helper()
	a := teamtest.Array[int64](t, 1)
	done := make(chan error, 1)
	go func() { done <- startedWaitK.For(ctx, team, 1, startedArgs{A: a}) }()
	testproc.WaitFor(t, "a chunk to start", func() bool { return atomic.LoadInt64(&a.Data()[0]) > 0 })
	end()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("For did not return within 30 s of the end of its context")
		return nil
	}
}

func TestContextReusedAcrossJobs(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		// Many jobs of one context, then its end in the middle of one more.
		ctx, cancel := context.WithCancel(teamtest.Ctx(t))
		for range 50 {
			require.NoError(t, noopK.For(ctx, team, 100, struct{}{}))
		}
		require.ErrorIs(t, runStarted(t, ctx, team, cancel), context.Canceled)
		// The ended context stops every later job of it at once.
		require.ErrorIs(t, noopK.For(ctx, team, 100, struct{}{}), context.Canceled)

		// A job of another context is not stopped by the end of an
		// earlier job's context, and is stopped by the end of its own.
		first, cancelFirst := context.WithCancel(teamtest.Ctx(t))
		defer cancelFirst()
		require.NoError(t, noopK.For(first, team, 100, struct{}{}))
		second, cancelSecond := context.WithTimeout(teamtest.Ctx(t), 2*time.Second)
		defer cancelSecond()
		// The first context's end must not reach this job (it would end
		// with context.Canceled): it ends at its own deadline.
		err := runStarted(t, second, team, cancelFirst)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, noopK.For(teamtest.Ctx(t), team, 100, struct{}{}), "the team goes on")
	})
}

// mapCtx is a context whose values cannot be compared with ==: a team must
// not panic comparing two of them.
type mapCtx struct {
	context.Context
	m map[string]int
}

func TestContextOfUncomparableType(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		base, cancel := context.WithCancel(teamtest.Ctx(t))
		ctx := mapCtx{base, map[string]int{"a": 1}}
		for range 3 {
			require.NoError(t, noopK.For(ctx, team, 100, struct{}{}))
		}
		require.ErrorIs(t, runStarted(t, mapCtx{base, map[string]int{}}, team, cancel), context.Canceled)
	})
}
