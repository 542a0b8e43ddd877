package pool_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
)

func newPool(t *testing.T, teamOpts []engine.TeamOption, opts ...pool.Option) *pool.Pool {
	t.Helper()
	team := teamtest.Team(t, teamOpts...)
	p, err := pool.On(team, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func forPools(t *testing.T, fn func(t *testing.T, p *pool.Pool)) {
	for _, c := range teamtest.Shapes {
		t.Run(c.Name, func(t *testing.T) { fn(t, newPool(t, c.Opts())) })
	}
}

// forProcPools runs fn on process pools only (faults that need processes).
func forProcPools(t *testing.T, fn func(t *testing.T, p *pool.Pool)) {
	for _, c := range teamtest.Shapes {
		if c.Backend == engine.Process {
			t.Run(c.Name, func(t *testing.T) { fn(t, newPool(t, c.Opts())) })
		}
	}
}

func ints(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// counting yields 0, 1, 2, ... forever, counting how many it produced.
func counting(n *int) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i := 0; ; i++ {
			*n = i + 1
			if !yield(i) {
				return
			}
		}
	}
}

func TestPoolMapSquares(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		const n = 100_000
		in := make([]int, n)
		for i := range in {
			in[i] = i - n/2
		}
		for _, tc := range []struct {
			name string
			in   []int
			opts []pool.CallOption
		}{
			{"auto", in, nil},
			{"chunk=1", in[:3000], []pool.CallOption{pool.ChunkSize(1)}},
			{"chunk=777", in, []pool.CallOption{pool.ChunkSize(777)}},
			{"chunk=n", in, []pool.CallOption{pool.ChunkSize(n)}},
		} {
			out, err := sqF.Map(ctx, p, tc.in, tc.opts...)
			require.NoError(t, err, tc.name)
			require.Len(t, out, len(tc.in))
			for i, x := range tc.in {
				if out[i] != x*x {
					t.Fatalf("%s: out[%d] = %d, want %d", tc.name, i, out[i], x*x)
				}
			}
		}
		out, err := sqF.Map(ctx, p, nil)
		require.NoError(t, err)
		require.Empty(t, out)
	})
}

func TestPoolMapGob(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		in := make([]wordArgs, 5000)
		for i := range in {
			in[i] = wordArgs{Word: fmt.Sprintf("w%d-", i%13), Times: i % 5}
		}
		for _, opts := range [][]pool.CallOption{nil, {pool.ChunkSize(1)}, {pool.ChunkSize(100)}} {
			out, err := repeatF.Map(ctx, p, in, opts...)
			require.NoError(t, err)
			for i, a := range in {
				require.Equal(t, strings.Repeat(a.Word, a.Times), out[i])
			}
		}
		// StarMap style: several arguments in a flat struct.
		sums, err := addF.Map(ctx, p, []addArgs{{1, 2}, {3, 4}, {-5, 5}})
		require.NoError(t, err)
		require.Equal(t, []int{3, 7, 0}, sums)
	})
}

func TestPoolConcurrentCalls(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				in := ints(2000 + 100*g)
				out, err := sqF.Map(ctx, p, in, pool.ChunkSize(1+g*7))
				if err == nil {
					for i, x := range in {
						if out[i] != x*x {
							err = fmt.Errorf("goroutine %d: out[%d] = %d", g, i, out[i])
							break
						}
					}
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

func TestPoolTaskErrors(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		out, err := failOddF.Map(ctx, p, ints(20), pool.ChunkSize(3))
		var te pool.TaskErrors
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 10)
		for k, e := range te {
			require.Equal(t, 2*k+1, e.Index)
			require.Equal(t, "fail-odd", e.Func)
			require.Contains(t, e.Error(), fmt.Sprintf("odd input %d", e.Index))
			require.GreaterOrEqual(t, e.Worker, 0)
			require.NotZero(t, e.PID)
		}
		for i := 0; i < 20; i += 2 {
			require.Equal(t, i, out[i], "the other tasks succeed")
		}

		out, err = panicAtF.Map(ctx, p, ints(10), pool.ChunkSize(4))
		var one *pool.TaskError
		require.ErrorAs(t, err, &one)
		require.Equal(t, 7, one.Index)
		var pe *engine.PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "boom at 7", pe.Value)
		require.Contains(t, one.Stack, "funcs_test.go", "the stack of the panicking task")
		require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 0, 8, 9}, out)

		// A sentinel the function's error wraps crosses with its text.
		_, err = errSentinelF.Apply(ctx, p, 1)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "wrapped: context canceled")

		// Apply returns the task's error itself.
		_, err = panicAtF.Apply(ctx, p, 7)
		require.ErrorAs(t, err, &one)
		require.ErrorAs(t, err, &pe)
		v, err := panicAtF.Apply(ctx, p, 6)
		require.NoError(t, err)
		require.Equal(t, 6, v)
	})
}

func TestPoolBadCalls(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		// A name or types the function does not have cannot be written:
		// the handle carries them. A handle never registered is an error.
		var never *pool.Func[int, int]
		_, err := never.Map(ctx, p, ints(3))
		require.ErrorIs(t, err, pool.ErrUnknownFunc)
		_, err = never.Submit(ctx, p, 1).Wait(ctx)
		require.ErrorIs(t, err, pool.ErrUnknownFunc)

		// A type gob can never encode: an error before anything runs.
		_, err = chanInF.Map(ctx, p, []chanIn{{}})
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.ErrorContains(t, err, "chan")

		// A value gob cannot encode: found before any task runs.
		count := teamtest.Array[int64](t, 1)
		in := []anyArgs{{V: 1, Count: count}, {V: "x", Count: count}, {V: unregistered{A: 1}, Count: count}}
		_, err = anyInF.Map(ctx, p, in)
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.ErrorContains(t, err, "input 2")
		require.ErrorContains(t, err, "unregistered")
		require.Zero(t, count.Data()[0], "no task ran")
		out, err := anyInF.Map(ctx, p, in[:2])
		require.NoError(t, err)
		require.Equal(t, []string{"1", "x"}, out)
		require.EqualValues(t, 2, count.Data()[0])

		f := anyInF.Submit(ctx, p, in[2])
		_, err = f.Result()
		require.ErrorIs(t, err, engine.ErrArgsEncode, "the future fails at once")
	})
}

func TestPoolResultEncoding(t *testing.T) {
	forProcPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		// A result gob cannot encode fails its task only.
		out, err := anyOutF.Map(ctx, p, ints(6), pool.ChunkSize(6))
		var te pool.TaskErrors
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 1)
		require.Equal(t, 3, te[0].Index)
		require.ErrorIs(t, te[0], engine.ErrArgsEncode)
		require.ErrorContains(t, te[0], "result (interface {}): cannot be encoded", "a result is not called an argument")
		require.Equal(t, []any{0, 1, 2, nil, 4, 5}, out)

		// Results larger than a message are sent in parts; one larger
		// than the queue fails alone.
		sizes := []int{100 << 10, 300 << 10, 8 << 20, 10, 200 << 10}
		bufs, err := bigOutF.Map(ctx, p, sizes, pool.ChunkSize(5))
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 1)
		require.Equal(t, 2, te[0].Index)
		require.ErrorIs(t, te[0], engine.ErrArgsTooLarge)
		require.ErrorContains(t, te[0], "result: too large")
		for i, n := range sizes {
			if i != 2 {
				require.Len(t, bufs[i], n)
			}
		}
	})
}

func TestPoolImapEndless(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		// Warm up: the pool's session (and its goroutines) runs.
		_, err := sqF.Map(ctx, p, ints(10))
		require.NoError(t, err)
		goroutines := runtime.NumGoroutine()
		for _, opts := range [][]pool.CallOption{nil, {pool.ChunkSize(3)}} {
			var pulled int
			var got []int
			for v, err := range sqF.Imap(ctx, p, counting(&pulled), opts...) {
				require.NoError(t, err)
				got = append(got, v)
				if len(got) == 10 {
					break
				}
			}
			require.Equal(t, []int{0, 1, 4, 9, 16, 25, 36, 49, 64, 81}, got)
			stopped := pulled
			// No goroutine is left behind (the pull iterator's included).
			deadline := time.Now().Add(5 * time.Second)
			for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			require.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "goroutines leaked")
			// Inputs are read as workers have room: at most 4·workers
			// batches, of at most 2^16 tasks for a gob type.
			require.LessOrEqual(t, stopped, 4*max(p.Workers(), 1)<<16, "memory stays bounded")
			// The workers are free and the generator stopped.
			out, err := sqF.Map(ctx, p, ints(1000))
			require.NoError(t, err)
			require.Equal(t, 999*999, out[999])
			require.Equal(t, stopped, pulled)
		}
	})
}

func TestPoolImapOrder(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		for _, chunk := range []int{0, 1, 64} {
			var opts []pool.CallOption
			if chunk > 0 {
				opts = append(opts, pool.ChunkSize(chunk))
			}
			n := 20_000
			if chunk == 1 {
				n = 2000
			}
			i := 0
			for v, err := range sqF.Imap(ctx, p, slices.Values(ints(n)), opts...) {
				require.NoError(t, err)
				require.Equal(t, i*i, v)
				i++
			}
			require.Equal(t, n, i)
		}
		// Task errors come with their element; the sequence goes on.
		var errs []int
		i := 0
		for v, err := range failOddF.Imap(ctx, p, slices.Values(ints(9))) {
			if err != nil {
				var te *pool.TaskError
				require.ErrorAs(t, err, &te)
				require.Equal(t, i, te.Index)
				errs = append(errs, i)
			} else {
				require.Equal(t, i, v)
			}
			i++
		}
		require.Equal(t, []int{1, 3, 5, 7}, errs)
		// A call error ends the sequence.
		n := 0
		var never *pool.Func[int, int]
		for _, err := range never.Imap(ctx, p, slices.Values(ints(9))) {
			require.ErrorIs(t, err, pool.ErrUnknownFunc)
			n++
		}
		require.Equal(t, 1, n)
	})
}

func TestPoolImapUnordered(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		const n = 10_000
		seen := make([]int, n)
		for r, err := range sqF.ImapUnordered(ctx, p, slices.Values(ints(n))) {
			require.NoError(t, err)
			require.Equal(t, r.Index*r.Index, r.Value)
			seen[r.Index]++
		}
		for i, k := range seen {
			require.Equal(t, 1, k, "index %d", i)
		}
		// Stopped early, it stops the call.
		var pulled, k int
		for _, err := range sqF.ImapUnordered(ctx, p, counting(&pulled)) {
			require.NoError(t, err)
			if k++; k == 10 {
				break
			}
		}
		_, err := sqF.Map(ctx, p, ints(10))
		require.NoError(t, err)
	})
}

func TestPoolSubmit(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		var fs []*pool.Future[int]
		for i := range 20 {
			fs = append(fs, sqF.Submit(ctx, p, i))
		}
		for i, f := range fs {
			v, err := f.Wait(ctx)
			require.NoError(t, err)
			require.Equal(t, i*i, v)
			<-f.Done()
			v, err = f.Result()
			require.NoError(t, err)
			require.Equal(t, i*i, v)
		}

		// A task that waits until its context ends: not done until then.
		slowCtx, cancelSlow := context.WithCancel(ctx)
		defer cancelSlow()
		slow := sleepMsF.Submit(slowCtx, p, 60_000)
		fast := sleepMsF.Submit(ctx, p, 1)
		failed := failOddF.Submit(ctx, p, 3)
		_, err := slow.Result()
		require.ErrorIs(t, err, pool.ErrNotDone)
		short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = slow.Wait(short)
		cancelShort()
		require.ErrorIs(t, err, context.DeadlineExceeded, "Wait gives up, the task goes on")

		var order []*pool.Future[int]
		for f, err := range pool.AsCompleted(ctx, slow, fast, failed) {
			require.NoError(t, err)
			order = append(order, f)
			if len(order) == 2 {
				cancelSlow()
			}
		}
		require.Len(t, order, 3)
		require.Same(t, slow, order[2], "the slow task finishes last, when canceled")
		require.ElementsMatch(t, []*pool.Future[int]{fast, failed}, order[:2])
		_, err = slow.Result()
		require.ErrorIs(t, err, context.Canceled)
		v, err := fast.Result()
		require.NoError(t, err)
		require.Equal(t, 1, v)
		_, err = failed.Result()
		var te *pool.TaskError
		require.ErrorAs(t, err, &te)

		// AsCompleted stops when its context ends.
		never := sleepMsF.Submit(slowCtx, p, 1) // slowCtx is canceled: fails at once
		_, err = never.Wait(ctx)
		require.ErrorIs(t, err, context.Canceled)
		hang, cancelHang := context.WithCancel(ctx)
		defer cancelHang()
		pending := sleepMsF.Submit(hang, p, 60_000)
		short, cancelShort = context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancelShort()
		for f, err := range pool.AsCompleted(short, pending) {
			require.Nil(t, f)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
	})
}

func TestPoolClose(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		team := p.Team()
		type res struct{ err error }
		done := make(chan res, 1)
		started := teamtest.Array[int64](t, 1)
		go func() {
			_, err := napF.Map(ctx, p, slices.Repeat([]napArgs{{Ms: 60_000, Started: started}}, 4))
			done <- res{err}
		}()
		awaitStarted(t, started, 1) // a task runs
		require.NoError(t, p.Close())
		require.NoError(t, p.Close(), "idempotent")
		select {
		case r := <-done:
			require.ErrorIs(t, r.err, pool.ErrClosed)
		case <-time.After(20 * time.Second):
			t.Fatal("a call still running did not end when the pool closed")
		}
		_, err := sqF.Map(ctx, p, ints(3))
		require.ErrorIs(t, err, pool.ErrClosed)
		for _, err := range sqF.Imap(ctx, p, slices.Values(ints(3))) {
			require.ErrorIs(t, err, pool.ErrClosed)
		}
		_, err = sqF.Submit(ctx, p, 3).Wait(ctx)
		require.ErrorIs(t, err, pool.ErrClosed)
		// The team is still usable, and takes a new pool.
		require.NoError(t, noopK.For(ctx, team, 10, struct{}{}))
		p2, err := pool.On(team)
		require.NoError(t, err)
		defer p2.Close()
		v, err := sqF.Apply(ctx, p2, 9)
		require.NoError(t, err)
		require.Equal(t, 81, v)
	})
}

func TestPoolSharesTeam(t *testing.T) {
	forPools(t, func(t *testing.T, p *pool.Pool) {
		ctx := teamtest.Ctx(t)
		for range 3 {
			_, err := sqF.Map(ctx, p, ints(1000))
			require.NoError(t, err)
			// For waits until the pool is idle, then runs.
			require.NoError(t, noopK.For(ctx, p.Team(), 100, struct{}{}))
		}
	})
}

func TestOnErrors(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1), engine.Primary(true))
	_, err := pool.On(team)
	require.ErrorContains(t, err, "no worker processes")
	team2 := teamtest.Team(t, engine.Workers(1))
	_, err = pool.On(team2, pool.QueueSize(10))
	require.ErrorContains(t, err, "QueueSize")
	_, err = pool.On(nil)
	require.Error(t, err)
	require.NoError(t, team2.Close())
	_, err = pool.On(team2)
	require.ErrorIs(t, err, engine.ErrClosed)
}

// New starts a team of its own, like Python's Pool(n), and Close closes
// both.
func TestNewOwnsItsTeam(t *testing.T) {
	for _, c := range []struct {
		workers int
		backend engine.Backend
		opts    []pool.Option
	}{
		{2, engine.Process, []pool.Option{pool.Workers(2)}},
		{3, engine.Goroutine, []pool.Option{pool.TeamOptions(engine.Goroutine, engine.Workers(5)), pool.Workers(3)}},
		{3, engine.Goroutine, []pool.Option{pool.Workers(3), pool.TeamOptions(engine.Workers(5), engine.Goroutine)}},
		{4, engine.Goroutine, []pool.Option{pool.TeamOptions(engine.Workers(5), engine.Goroutine), pool.TeamOptions(engine.Workers(4))}},
	} {
		p, err := pool.New(c.opts...)
		require.NoError(t, err)
		team := p.Team()
		require.Equal(t, c.workers, team.Workers(), "pool.Workers wins over the TeamOptions' engine.Workers, the later of those over the earlier")
		require.Equal(t, c.backend, team.Backend())
		out, err := sqF.Map(teamtest.Ctx(t), p, ints(100))
		require.NoError(t, err)
		require.Equal(t, 99*99, out[99])
		pids := team.PIDs()
		require.NoError(t, p.Close())
		require.ErrorIs(t, noopK.For(teamtest.Ctx(t), team, 10, struct{}{}), engine.ErrClosed, "the team closed with the pool")
		for _, pid := range pids {
			require.Error(t, syscall.Kill(pid, 0), "worker %d still exists after Close", pid)
		}
	}
	_, err := pool.New(pool.Workers(-1))
	require.ErrorContains(t, err, "Workers(-1)")
	_, err = pool.New(pool.Workers(1), pool.QueueSize(10))
	require.ErrorContains(t, err, "QueueSize", "and the team it started is closed again")
}

var (
	lateOnce sync.Once
	lateF    *pool.Func[int, int]
)

func TestPoolFuncRegisteredAfterMain(t *testing.T) {
	// Registered here, after engine.Main returned in TestMain: the worker
	// processes (which never get here) do not have it.
	lateOnce.Do(func() {
		lateF = pool.Register("late", func(ctx context.Context, x int) (int, error) { return x, nil })
	})
	forProcPools(t, func(t *testing.T, p *pool.Pool) {
		out, err := lateF.Map(teamtest.Ctx(t), p, ints(10), pool.ChunkSize(3))
		var te pool.TaskErrors
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 10, "every task fails")
		for i, e := range te {
			require.Equal(t, i, e.Index)
			require.ErrorIs(t, e, pool.ErrUnknownFunc)
			require.ErrorContains(t, e, "initialization")
			require.NotContains(t, e.Error(), "pool: ", "a TaskError says what failed, with no package prefix")
		}
		require.Len(t, out, 10)
		// The pool goes on.
		v, err := sqF.Apply(teamtest.Ctx(t), p, 9)
		require.NoError(t, err)
		require.Equal(t, 81, v)
	})
	// The goroutine backend has it.
	p := newPool(t, []engine.TeamOption{engine.Workers(2), engine.Goroutine})
	out, err := lateF.Map(teamtest.Ctx(t), p, ints(10))
	require.NoError(t, err)
	require.Equal(t, ints(10), out)
}

func TestTaskErrorsFormat(t *testing.T) {
	e := pool.TaskErrors{
		{Func: "f", Index: 3, Worker: 1, Failure: engine.Failure{PID: 42, Err: errors.New("bad")}},
		{Func: "f", Index: 5, Worker: -1, Failure: engine.Failure{Err: engine.ErrWorkerDied}},
	}
	require.Equal(t, `2 tasks failed; the first: func "f" task 3: worker 1 (pid 42): bad`, e.Error())
	require.ErrorIs(t, e, engine.ErrWorkerDied)
	require.Equal(t, `func "f" task 5: worker process died`, e[1].Error())
}

// A pool's worker processes are named for ps, top and pgrep after the
// program and their role, "PROGRAM: worker N", not "exe".
func TestPoolWorkersNamedInPs(t *testing.T) {
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	prog := filepath.Base(os.Args[0])
	for i, pid := range p.Team().PIDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		require.NoError(t, err)
		argv0, _, _ := strings.Cut(string(b), "\x00")
		require.Equal(t, fmt.Sprintf("%s: worker %d", prog, i), argv0)
		c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		require.NoError(t, err)
		want := argv0[:min(len(argv0), 15)]
		require.Equal(t, want, strings.TrimSuffix(string(c), "\n"), "the kernel's name: argv[0] in 15 bytes")
		// Every thread of the worker, not only the first.
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		require.NoError(t, err)
		for _, task := range tasks {
			c, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/comm", pid, task.Name()))
			require.NoError(t, err)
			require.Equal(t, want, strings.TrimSuffix(string(c), "\n"), "thread %s", task.Name())
		}
	}
}
