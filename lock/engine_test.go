//go:build linux

package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/pool"
	"github.com/shmpar/shmpar/lock"
	"github.com/stretchr/testify/require"
)

// Shared primitives in the arguments of pool tasks and For kernels: every
// task and every chunk, in worker processes, releases units of the same
// Semaphore, under the same Mutex.

type unitArgs struct {
	Mu    *lock.SharedMutex
	Units *lock.SharedSemaphore
	N     int
}

func release(mu *lock.SharedMutex, units *lock.SharedSemaphore, n int) error {
	if err := mu.Lock(); err != nil {
		return err
	}
	if err := units.ReleaseN(n); err != nil {
		_ = mu.Unlock()
		return err
	}
	return mu.Unlock()
}

var releaseTask = pool.Register("lock_test.release", func(ctx context.Context, a unitArgs) (int, error) {
	return a.N, release(a.Mu, a.Units, a.N)
})

var releaseKernel = engine.Register("lock_test.release", func(c *engine.Ctx, a unitArgs, lo, hi int) error {
	return release(a.Mu, a.Units, hi-lo)
})

func TestSharedInPoolAndFor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mu, err := lock.NewMutex()
	require.NoError(t, err)
	defer mu.Close()
	units, err := lock.NewSemaphore(0, 0)
	require.NoError(t, err)
	defer units.Close()

	p, err := pool.New(pool.Workers(2))
	require.NoError(t, err)
	defer p.Close()
	tasks := make([]unitArgs, 50)
	for i := range tasks {
		tasks[i] = unitArgs{Mu: mu, Units: units, N: i + 1}
	}
	_, err = releaseTask.Map(ctx, p, tasks)
	require.NoError(t, err)
	require.Equal(t, 50*51/2, units.Value(), "units released by the pool's workers")

	team, err := engine.Start(engine.Workers(2))
	require.NoError(t, err)
	defer team.Close()
	require.NoError(t, releaseKernel.For(ctx, team, 10_000, unitArgs{Mu: mu, Units: units}, engine.Dynamic(7)))
	require.Equal(t, 50*51/2+10_000, units.Value(), "units released by the team's workers")
	require.Zero(t, mu.Owner())
}
