package pool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
)

// setupArgs are the test initializer's arguments: the value it puts in the
// worker's global, a shared log where each run appends its pid ([0] is the
// count), a file whose existence makes it fail, and whether it panics.
type setupArgs struct {
	Value  int
	Log    *array.Array[int64]
	FailIf string
	Panic  bool
}

// workerValue is a worker process's global, set by the initializer: the
// coordinator's stays 0.
var workerValue atomic.Int64

var (
	setupI = pool.RegisterInit("test-setup", func(ctx context.Context, a setupArgs) error {
		if a.Panic {
			panic("setup exploded")
		}
		if _, err := os.Stat(a.FailIf); a.FailIf != "" && err == nil {
			return errors.New("no database")
		}
		if a.Log != nil {
			d := a.Log.Data()
			d[atomic.AddInt64(&d[0], 1)] = int64(os.Getpid())
		}
		workerValue.Store(int64(a.Value))
		return nil
	})
	// valueF returns the worker's global and pid: flat, a direct call.
	valueF = pool.Register("worker-value", func(ctx context.Context, ms int) ([2]int, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return [2]int{int(workerValue.Load()), os.Getpid()}, nil
	})
	// valueGobF is the same through the session path (a string result).
	valueGobF = pool.Register("worker-value-gob", func(ctx context.Context, ms int) (string, error) {
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return fmt.Sprintf("%d %d", workerValue.Load(), os.Getpid()), nil
	})
)

// initLog returns the pids the initializer logged.
func initLog(log *array.Array[int64]) []int {
	d := log.Data()
	n := atomic.LoadInt64(&d[0])
	var pids []int
	for i := int64(1); i <= n; i++ {
		pids = append(pids, int(atomic.LoadInt64(&d[i])))
	}
	return pids
}

// taskValues runs tasks until every worker ran some, through the direct
// path or the session's, and returns the values they saw by pid.
func taskValues(t *testing.T, p *pool.Pool, session bool) map[int]int {
	t.Helper()
	ctx := teamtest.Ctx(t)
	seen := map[int]int{}
	for try := 0; try < 20 && len(seen) < p.Workers(); try++ {
		in := slices.Repeat([]int{2}, 10*p.Workers())
		if session {
			out, err := valueGobF.Map(ctx, p, in, pool.ChunkSize(1))
			require.NoError(t, err)
			for _, s := range out {
				var v, pid int
				_, err := fmt.Sscan(s, &v, &pid)
				require.NoError(t, err)
				seen[pid] = v
			}
			continue
		}
		out, err := valueF.Map(ctx, p, in, pool.ChunkSize(1))
		require.NoError(t, err)
		for _, r := range out {
			seen[r[1]] = r[0]
		}
	}
	return seen
}

func TestPoolInitializer(t *testing.T) {
	for _, path := range []string{"direct", "session"} {
		t.Run(path, func(t *testing.T) {
			log := teamtest.Array[int64](t, 64)
			p, err := pool.New(pool.Workers(2), pool.Initializer(setupI, setupArgs{Value: 42, Log: log}))
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			// Every worker process ran it once, before any task; tasks
			// see what it set, the coordinator does not.
			seen := taskValues(t, p, path == "session")
			require.Len(t, seen, 2)
			for pid, v := range seen {
				require.Equal(t, 42, v, "pid %d", pid)
			}
			require.Zero(t, workerValue.Load(), "the coordinator's global is its own")
			logged := initLog(log)
			require.Len(t, logged, 2, "once per worker process: %v", logged)
			for pid := range seen {
				require.Contains(t, logged, pid)
			}

			// A worker process that replaces a dead one runs it again.
			victim := p.Team().PIDs()[0]
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			teamtest.AwaitGone(t, victim, 20*time.Second)
			seen = taskValues(t, p, path == "session")
			require.Len(t, seen, 2)
			require.NotContains(t, seen, victim)
			logged = initLog(log)
			require.Len(t, logged, 3, "%v", logged)
			for pid, v := range seen {
				require.Equal(t, 42, v, "pid %d", pid)
				require.Contains(t, logged, pid)
			}
		})
	}
}

func TestPoolInitializerFails(t *testing.T) {
	dir := t.TempDir()
	fail := filepath.Join(dir, "fail")
	require.NoError(t, os.WriteFile(fail, nil, 0o600))
	for _, c := range []struct {
		name string
		team []engine.TeamOption
	}{
		{"process", []engine.TeamOption{engine.Workers(2)}},
		{"process-primary", []engine.TeamOption{engine.Workers(3), engine.Primary(true)}},
		{"goroutine", []engine.TeamOption{engine.Workers(2), engine.Goroutine}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := pool.New(pool.TeamOptions(c.team...), pool.Initializer(setupI, setupArgs{FailIf: fail}))
			require.ErrorIs(t, err, pool.ErrInit)
			var ie *pool.InitError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, "test-setup", ie.Init)
			require.NotZero(t, ie.PID)
			require.ErrorContains(t, err, `pool: initializer "test-setup" failed in worker`)
			require.ErrorContains(t, err, "no database")
			require.Less(t, time.Since(start), 20*time.Second)

			_, err = pool.New(pool.TeamOptions(c.team...), pool.Initializer(setupI, setupArgs{Panic: true}))
			require.ErrorAs(t, err, &ie)
			var pe *engine.PanicError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "setup exploded", pe.Value)
			require.Contains(t, ie.Stack, "init_test.go", "the initializer's stack")
		})
	}
	// Bad uses fail before anything runs.
	_, err := pool.New(pool.Workers(1), pool.Initializer[setupArgs](nil, setupArgs{}))
	require.ErrorContains(t, err, "nil *Init")
	_, err = pool.New(pool.Workers(1), pool.Initializer(bigInitI, make([]byte, pool.MaxInitArgs+1)))
	require.ErrorIs(t, err, engine.ErrArgsTooLarge)
}

var bigInitI = pool.RegisterInit("test-big", func(ctx context.Context, b []byte) error { return nil })

// An initializer that fails in a worker process replacing a dead one breaks
// the pool: the call fails with its error, and every later call at once;
// no worker is restarted for it.
func TestPoolInitializerFailsInReplacement(t *testing.T) {
	for _, path := range []string{"direct", "session"} {
		t.Run(path, func(t *testing.T) {
			ctx := teamtest.Ctx(t)
			log := teamtest.Array[int64](t, 64)
			fail := filepath.Join(t.TempDir(), "fail")
			p, err := pool.New(pool.Workers(2), pool.Initializer(setupI, setupArgs{Value: 7, Log: log, FailIf: fail}))
			require.NoError(t, err)
			t.Cleanup(func() { p.Close() })
			require.Len(t, taskValues(t, p, path == "session"), 2)
			require.NoError(t, os.WriteFile(fail, nil, 0o600))
			victim := p.Team().PIDs()[1]
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			teamtest.AwaitGone(t, victim, 20*time.Second)

			start := time.Now()
			var ie *pool.InitError
			for try := 0; ; try++ {
				// Calls may still succeed on the old worker until the
				// replacement takes part; then they fail.
				if path == "session" {
					_, err = valueGobF.Map(ctx, p, slices.Repeat([]int{1}, 20), pool.ChunkSize(1))
				} else {
					_, err = valueF.Map(ctx, p, slices.Repeat([]int{1}, 20), pool.ChunkSize(1))
				}
				if err != nil {
					break
				}
				require.Less(t, try, 50, "the replacement never ran a task")
			}
			require.ErrorIs(t, err, pool.ErrInit)
			require.ErrorAs(t, err, &ie)
			require.ErrorContains(t, err, "no database")
			require.NotEqual(t, victim, ie.PID)
			require.Less(t, time.Since(start), 20*time.Second)
			logged := len(initLog(log))

			// Later calls fail at once, on both paths, and nothing
			// restarts.
			for range 5 {
				_, err := valueF.Map(ctx, p, []int{0, 0, 0})
				require.ErrorIs(t, err, pool.ErrInit)
				_, err = valueGobF.Map(ctx, p, []int{0})
				require.ErrorIs(t, err, pool.ErrInit)
				_, err = valueGobF.Submit(ctx, p, 0).Wait(ctx)
				require.ErrorIs(t, err, pool.ErrInit)
			}
			require.Equal(t, logged, len(initLog(log)))
			require.NoError(t, p.Close())
		})
	}
}
