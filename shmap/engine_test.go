//go:build linux

package shmap_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/pool"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/shmap"
)

// The engine crossing tests pass a *shmap.Map inside the arguments of a
// kernel, a pool task and a spawned process. Each call increments counters
// [0, crossKeys) and the counter of its own process (pidKey + pid), so that
// the test sees both that every increment landed, exactly once, and which
// processes made them: worker processes, never this one.
const (
	crossKeys = 8
	pidKey    = 1 << 24 // above every counter key; pids are below 2^22
)

// crossArgs are the arguments of the kernel, the pool function and the
// process function: the map travels as a reference to its segment.
type crossArgs struct {
	M    *shmap.Map[uint32, cell]
	From int // the first index to count (pool and process: one call's range)
	N    int
}

// bump increments counter i%crossKeys and this process's counter.
func bump(m *shmap.Map[uint32, cell], i int) error {
	me := uint64(os.Getpid())
	inc := func(old cell, loaded bool) cell {
		if loaded && !old.ok() {
			panic(fmt.Sprintf("torn value %+v", old))
		}
		return mkcell(old.N+1, me)
	}
	if _, err := m.Update(uint32(i%crossKeys), inc); err != nil {
		return err
	}
	_, err := m.Update(pidKey+uint32(me), inc)
	return err
}

var crossFor = engine.Register("shmap-test-cross-for", func(c *engine.Ctx, a crossArgs, lo, hi int) error {
	for i := lo; i < hi; i++ {
		if err := bump(a.M, i); err != nil {
			return err
		}
	}
	return nil
})

var crossPool = pool.Register("shmap-test-cross-pool", func(ctx context.Context, a crossArgs) (int, error) {
	for i := a.From; i < a.From+a.N; i++ {
		if err := bump(a.M, i); err != nil {
			return 0, err
		}
	}
	return os.Getpid(), nil
})

var crossProcess = process.Register("shmap-test-cross-process", func(ctx context.Context, a crossArgs) error {
	for i := a.From; i < a.From+a.N; i++ {
		if err := bump(a.M, i); err != nil {
			return err
		}
	}
	return nil
})

// crossMaps returns a named map, one shared between users (mode 0660:
// foreign, so its reference carries the opt-in), and an anonymous map for
// the crossing tests.
func crossMaps(t *testing.T) map[string]*shmap.Map[uint32, cell] {
	named, _ := newMap[uint32, cell](t, 64)
	shared, _ := newMap[uint32, cell](t, 64, shmap.Mode(0o660))
	anon, err := shmap.CreateAnon[uint32, cell](64)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, anon.Check())
		anon.Close()
	})
	return map[string]*shmap.Map[uint32, cell]{"named": named, "shared": shared, "anonymous": anon}
}

// requireCrossCounts checks that the n increments of one test all landed:
// each counter holds exactly n/crossKeys, the per-process counters add up to
// n, and the processes that wrote are others than this one. It returns the
// writers' pids.
func requireCrossCounts(t *testing.T, m *shmap.Map[uint32, cell], n int) map[int]uint64 {
	t.Helper()
	for k := range uint32(crossKeys) {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		require.True(t, ok, "counter %d", k)
		require.True(t, v.ok(), "counter %d torn: %+v", k, v)
		require.Equal(t, uint64(n/crossKeys), v.N, "counter %d", k)
	}
	writers := map[int]uint64{}
	require.NoError(t, m.Range(func(k uint32, v cell) bool {
		if k >= pidKey {
			writers[int(k-pidKey)] = v.N
		}
		return true
	}))
	total := uint64(0)
	for pid, c := range writers {
		require.NotEqual(t, os.Getpid(), pid, "this process wrote; the work was to run elsewhere")
		total += c
	}
	require.Equal(t, uint64(n), total, "increments by process %v", writers)
	require.Equal(t, crossKeys+len(writers), m.Len())
	require.NoError(t, m.Check())
	return writers
}

// TestCrossKernel runs a kernel over [0, n) on a team of two worker
// processes with a map in its arguments: the workers attach the map and
// every increment they make is seen here.
func TestCrossKernel(t *testing.T) {
	const n = 4000
	team, err := engine.Start(engine.Workers(2))
	require.NoError(t, err)
	defer team.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, m := range crossMaps(t) {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, crossFor.For(ctx, team, n, crossArgs{M: m}, engine.Dynamic(100)))
			writers := requireCrossCounts(t, m, n)
			t.Logf("increments by worker pid: %v", writers)
		})
	}
}

// TestCrossPool maps a function over tasks on a pool of two worker
// processes, each task carrying the map: each runs in a worker (its pid is
// another than this process's), and all its increments are seen here.
func TestCrossPool(t *testing.T) {
	const tasks, per = 50, 16
	p, err := pool.New(pool.Workers(2))
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, m := range crossMaps(t) {
		t.Run(name, func(t *testing.T) {
			in := make([]crossArgs, tasks)
			for i := range in {
				in[i] = crossArgs{M: m, From: i * per, N: per}
			}
			pids, err := crossPool.Map(ctx, p, in, pool.ChunkSize(5))
			require.NoError(t, err)
			writers := requireCrossCounts(t, m, tasks*per)
			for _, pid := range pids {
				require.Contains(t, writers, pid, "a task ran in a process that did not write")
			}
			t.Logf("increments by worker pid: %v", writers)
		})
	}
}

// TestCrossProcess starts two processes, each with the map in its
// arguments and half of the increments to make: both attach the map and
// every increment is seen here once they have exited.
func TestCrossProcess(t *testing.T) {
	const half = 1000
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, m := range crossMaps(t) {
		t.Run(name, func(t *testing.T) {
			var ps []*process.Process
			for i := range 2 {
				p, err := crossProcess.Start(ctx, crossArgs{M: m, From: i * half, N: half})
				require.NoError(t, err)
				ps = append(ps, p)
			}
			for _, p := range ps {
				require.NoError(t, p.Wait())
			}
			writers := requireCrossCounts(t, m, 2*half)
			require.Len(t, writers, 2, "each process wrote")
			for _, p := range ps {
				require.Equal(t, uint64(half), writers[p.PID()], "process %d", p.PID())
			}
		})
	}
}
