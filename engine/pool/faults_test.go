package pool_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
	"github.com/shmpar/shmpar/queue"
)

// Faults: workers killed, tasks over their timeout, calls canceled, pools
// and teams closed under running calls.

// awaitStarted waits (at most 20 s) until at least n tasks have counted
// themselves in started.
func awaitStarted(t *testing.T, started *array.Array[int64], n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for atomic.LoadInt64(&started.Data()[0]) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks started in 20 s", atomic.LoadInt64(&started.Data()[0]), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// distinctPIDs runs tasks, one at a time, until it has seen every worker
// (a worker that is slow to join its session may miss a short call).
func distinctPIDs(t *testing.T, p *pool.Pool) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for try := 0; try < 20 && len(seen) < p.Workers(); try++ {
		out, err := pidSlowF.Map(teamtest.Ctx(t), p, slices.Repeat([]int{2}, 10*p.Workers()), pool.ChunkSize(1))
		require.NoError(t, err)
		for _, pid := range out {
			seen[pid] = true
		}
	}
	return seen
}

func TestPoolWorkerKilled(t *testing.T) {
	for _, c := range teamtest.Shapes {
		if c.Backend != engine.Process {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			for _, chunk := range []int{1, 10, 0} {
				t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
					p := newPool(t, c.Opts())
					ctx := teamtest.Ctx(t)
					const n, at = 300, 137
					once := teamtest.Array[int64](t, 1)
					in := make([]killArgs, n)
					for i := range in {
						in[i] = killArgs{X: i, At: at, Once: once, Coord: os.Getpid()}
					}
					before := distinctPIDs(t, p)
					require.Len(t, before, p.Workers())

					// Idempotent: the tasks the dead worker held run again.
					out, err := killIdemF.Map(ctx, p, in, pool.ChunkSize(chunk))
					require.NoError(t, err)
					for i := range in {
						require.Equal(t, 2*i, out[i])
					}
					require.NotZero(t, once.Data()[0], "a worker killed itself")

					// Not idempotent: only the task that was running
					// fails. Those its worker finished before it in the
					// same batch keep their results (they were staged in
					// shared memory as each finished).
					once.Data()[0] = 0
					out, err = killOnceF.Map(ctx, p, in, pool.ChunkSize(chunk))
					var te pool.TaskErrors
					require.ErrorAs(t, err, &te)
					require.Len(t, te, 1, "%v", err)
					require.Equal(t, at, te[0].Index)
					require.ErrorIs(t, te[0], engine.ErrWorkerDied)
					require.Equal(t, syscall.SIGKILL, te[0].Signal)
					require.EqualValues(t, once.Data()[0], te[0].PID)
					require.ErrorContains(t, te[0], "while running it")
					for i := range in {
						if i != at {
							require.Equal(t, 2*i, out[i], "task %d", i)
						}
					}

					// The pool is usable, on a full team of new and old workers.
					after := distinctPIDs(t, p)
					require.Len(t, after, p.Workers())
					require.False(t, after[int(once.Data()[0])], "the dead worker was replaced")
				})
			}
		})
	}
}

func TestPoolWorkerKilledFromOutside(t *testing.T) {
	forProcPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		for _, fn := range []*pool.Func[napArgs, int]{napIdemF, napF} {
			started := teamtest.Array[int64](t, 1)
			in := slices.Repeat([]napArgs{{Ms: 20, Started: started}}, 60)
			type res struct {
				out []int
				err error
			}
			done := make(chan res, 1)
			go func() {
				out, err := fn.Map(ctx, p, in, pool.ChunkSize(1))
				done <- res{out, err}
			}()
			// Kill a worker once the workers are running tasks.
			awaitStarted(t, started, int64(p.Workers()+1))
			pids := p.Team().PIDs()
			victim := pids[len(pids)-1]
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			var r res
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Map hung after a worker was killed")
			}
			if fn == napIdemF {
				require.NoError(t, r.err)
			} else if r.err != nil {
				var te pool.TaskErrors
				require.ErrorAs(t, r.err, &te)
				require.LessOrEqual(t, len(te), 1, "only the task the worker ran fails")
				require.ErrorIs(t, te[0], engine.ErrWorkerDied)
				require.Equal(t, victim, te[0].PID)
			}
			for i, v := range r.out {
				if r.err == nil || !strings.Contains(r.err.Error(), fmt.Sprintf("task %d:", i)) {
					require.Equal(t, 20, v, "task %d", i)
				}
			}
			require.Len(t, distinctPIDs(t, p), p.Workers())
		}
	})
}

func TestPoolTimeout(t *testing.T) {
	for _, c := range teamtest.Shapes {
		t.Run(c.Name, func(t *testing.T) {
			p := newPool(t, c.Opts())
			ctx := teamtest.Ctx(t)
			spin := 60_000
			if c.Backend == engine.Goroutine {
				spin = 1500 // an abandoned goroutine runs until the function returns
			}
			var before map[int]bool
			if c.Backend == engine.Process {
				before = distinctPIDs(t, p)
			}
			in := []int{1, spin, 2, 3}
			start := time.Now()
			out, err := spinF.Map(ctx, p, in, pool.Timeout(300*time.Millisecond), pool.ChunkSize(4))
			require.Less(t, time.Since(start), 20*time.Second)
			var te pool.TaskErrors
			require.ErrorAs(t, err, &te)
			require.Len(t, te, 1)
			require.Equal(t, 1, te[0].Index)
			require.ErrorIs(t, te[0], pool.ErrTaskTimeout)
			require.Equal(t, []int{1, 0, 2, 3}, out, "the tasks after it run elsewhere")
			if c.Backend == engine.Process {
				require.True(t, before[te[0].PID])
				after := distinctPIDs(t, p)
				require.Len(t, after, p.Workers())
				require.False(t, after[te[0].PID], "the stuck worker was killed and replaced")
			}
			// A task that looks at its context ends by itself (usually with
			// its context's error, unless the watchdog is first).
			_, err = sleepMsF.Apply(ctx, p, 60_000, pool.Timeout(100*time.Millisecond))
			require.ErrorIs(t, err, pool.ErrTaskTimeout)
		})
	}
}

func TestPoolCancel(t *testing.T) {
	for _, c := range teamtest.Shapes {
		t.Run(c.Name, func(t *testing.T) {
			p := newPool(t, c.Opts(engine.CancelGrace(200*time.Millisecond)))
			ctx := teamtest.Ctx(t)
			for _, fn := range []*pool.Func[int, int]{sleepMsF, spinF} {
				ms := 60_000
				if fn == spinF && c.Backend == engine.Goroutine {
					ms = 1000
				}
				cctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(100*time.Millisecond, cancel)
				start := time.Now()
				_, err := fn.Map(cctx, p, slices.Repeat([]int{ms}, 8), pool.ChunkSize(1))
				require.ErrorIs(t, err, context.Canceled)
				require.Less(t, time.Since(start), 10*time.Second, "the call returns promptly")
				// Usable after, with every worker.
				out, err := sqF.Map(ctx, p, ints(100), pool.ChunkSize(1))
				require.NoError(t, err)
				require.Equal(t, 99*99, out[99])
			}
			_, err := sqF.Map(doneCtx(), p, ints(3))
			require.ErrorIs(t, err, context.Canceled)
		})
	}
}

func doneCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestPoolMaxTasksPerWorker(t *testing.T) {
	for _, c := range teamtest.Shapes {
		if c.Backend != engine.Process {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			p := newPool(t, c.Opts(), pool.MaxTasksPerWorker(10))
			ctx := teamtest.Ctx(t)
			out, err := pidF.Map(ctx, p, ints(60), pool.ChunkSize(4))
			require.NoError(t, err)
			count := map[int]int{}
			for _, pid := range out {
				require.NotZero(t, pid)
				count[pid]++
			}
			require.GreaterOrEqual(t, len(count), 6, "60 tasks, at most 10 per worker process")
			for pid, k := range count {
				require.LessOrEqual(t, k, 10, "pid %d", pid)
			}
		})
	}
}

func TestPoolWorkerKilledWhileIdle(t *testing.T) {
	forProcPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		for range 2 {
			before := distinctPIDs(t, p)
			for pid := range before {
				require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
				break
			}
			out, err := sqF.Map(ctx, p, ints(1000))
			require.NoError(t, err)
			require.Equal(t, 999*999, out[999])
			after := distinctPIDs(t, p)
			require.Len(t, after, p.Workers())
		}
	})
}

func TestPoolTeamClosedUnderneath(t *testing.T) {
	for _, c := range teamtest.Shapes {
		t.Run(c.Name, func(t *testing.T) {
			team, err := engine.Start(c.Opts()...)
			require.NoError(t, err)
			p, err := pool.On(team)
			require.NoError(t, err)
			ctx := teamtest.Ctx(t)
			_, err = sqF.Map(ctx, p, ints(100))
			require.NoError(t, err)
			require.NoError(t, team.Close())
			_, err = sqF.Map(ctx, p, ints(100))
			if c.Backend == engine.Process {
				require.ErrorIs(t, err, engine.ErrClosed)
				require.Equal(t, 1, strings.Count(err.Error(), "pool: "), "one prefix each: %v", err)
				require.Equal(t, 1, strings.Count(err.Error(), "engine: "), "one prefix each: %v", err)
			}
			require.NoError(t, p.Close())
		})
	}
}

// With a Timeout every task's result travels in a message of its own: the
// dispatcher must take every message of a long burst. (It used to drop the
// 17th message of a burst: a result, which got the worker killed for
// breaking the protocol, or a death or a session's end, which hung the
// call until its context ended.)
func TestPoolTimedBurst(t *testing.T) {
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	ctx := teamtest.Ctx(t)
	for range 5 {
		out, err := sqF.Map(ctx, p, ints(4000), pool.Timeout(time.Hour), pool.ChunkSize(1000))
		require.NoError(t, err)
		require.Equal(t, 3999*3999, out[3999])
	}
}

// killOrFail fails the tasks whose X is a multiple of 3 and, like kill,
// SIGKILLs its worker at At.
var killOrFailF = pool.Register("kill-or-fail", func(ctx context.Context, a killArgs) (string, error) {
	if a.X%3 == 0 && a.X != a.At {
		return "", fmt.Errorf("refused %d", a.X)
	}
	v, err := kill(ctx, a)
	return strings.Repeat("v", v%7), err
})

// A worker's death loses nothing it finished, whatever the results' types
// and however the batch's tasks ended: results and task errors it staged
// are delivered, and only the task it was running fails.
func TestPoolDeathKeepsStagedResults(t *testing.T) {
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	ctx := teamtest.Ctx(t)
	const n, at = 120, 97
	for _, chunk := range []int{0, 7, 60} {
		// Gob results with task errors among them.
		once := teamtest.Array[int64](t, 1)
		in := make([]killArgs, n)
		for i := range in {
			in[i] = killArgs{X: i, At: at, Once: once, Coord: os.Getpid()}
		}
		out, err := killOrFailF.Map(ctx, p, in, pool.ChunkSize(chunk))
		var te pool.TaskErrors
		require.ErrorAs(t, err, &te)
		for _, e := range te {
			if e.Index == at {
				require.ErrorIs(t, e, engine.ErrWorkerDied)
				require.EqualValues(t, once.Data()[0], e.PID)
				continue
			}
			require.Zero(t, e.Index%3, "chunk %d: task %d: %v", chunk, e.Index, e)
			require.ErrorContains(t, e, fmt.Sprintf("refused %d", e.Index))
		}
		require.Len(t, te, 1+(n-1)/3+1-boolInt(at%3 == 0), "chunk %d: %v", chunk, err)
		for i := range in {
			if i%3 != 0 && i != at {
				require.Equal(t, strings.Repeat("v", 2*i%7), out[i], "chunk %d: task %d", chunk, i)
			}
		}

		// Flat results on the session path (a Timeout selects it).
		m, path := marker(t)
		fin := make([]killFlat, n)
		for i := range fin {
			fin[i] = killFlat{X: i, At: at, Coord: os.Getpid(), Marker: m}
		}
		fout, err := killFlatF.Map(ctx, p, fin, pool.ChunkSize(chunk), pool.Timeout(time.Hour))
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 1, "%v", err)
		require.Equal(t, at, te[0].Index)
		require.ErrorIs(t, te[0], engine.ErrWorkerDied)
		require.Equal(t, readPID(t, path), te[0].PID)
		for i := range fin {
			if i != at {
				require.Equal(t, 2*i, fout[i], "chunk %d: task %d", chunk, i)
			}
		}
	}
}

// A pool whose result queue fails — its writers gone (queue.ErrPeerGone),
// which cannot happen while the coordinator lives (it writes to that queue
// itself), or its handle broken — cannot go on: every call, the one
// running and every later one, fails at once with an error that says so,
// and none waits for a dispatcher that has stopped.
func TestPoolResultQueueLost(t *testing.T) {
	ctx := teamtest.Ctx(t)
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	out, err := sleepMsF.Map(ctx, p, []int{1, 1}, pool.Timeout(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, []int{1, 1}, out)

	lost := fmt.Errorf("get from queue: %w", queue.ErrPeerGone)
	undo := pool.BreakResultQueue(lost)
	defer undo()
	// A call that runs while the queue goes.
	running := make(chan error, 1)
	go func() {
		_, err := sleepMsF.Map(ctx, p, slices.Repeat([]int{50}, 40), pool.ChunkSize(1), pool.Timeout(10*time.Second))
		running <- err
	}()
	pool.Poke(p)
	select {
	case err := <-running:
		require.ErrorIs(t, err, queue.ErrPeerGone)
		require.ErrorContains(t, err, "result queue")
	case <-time.After(30 * time.Second):
		t.Fatal("a call hung on a pool whose result queue failed")
	}
	// Later calls, of every kind, fail at once too.
	later := make(chan error, 3)
	go func() {
		_, err := sleepMsF.Map(ctx, p, []int{1}, pool.Timeout(time.Second))
		later <- err
		_, err = sleepMsF.Apply(ctx, p, 1)
		later <- err
		var ierr error
		for _, e := range sleepMsF.ImapUnordered(ctx, p, slices.Values([]int{1, 2})) {
			if e != nil {
				ierr = e
			}
		}
		later <- ierr
	}()
	for range 3 {
		select {
		case err := <-later:
			require.ErrorIs(t, err, queue.ErrPeerGone)
		case <-time.After(30 * time.Second):
			t.Fatal("a later call hung on a pool whose result queue failed")
		}
	}
}
