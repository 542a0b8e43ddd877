package engine_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
)

var poolConfigs = []struct {
	name string
	cfg  engine.Config
}{
	{"process", engine.Config{Workers: 2}},
	{"process-primary", engine.Config{Workers: 3, Primary: true}},
	{"goroutine", engine.Config{Workers: 3, Backend: engine.Goroutine}},
}

func newPool(t *testing.T, cfg engine.Config, opts ...engine.PoolOption) *engine.Pool {
	t.Helper()
	team := startTeam(t, cfg)
	p, err := engine.NewPool(team, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func forPools(t *testing.T, fn func(t *testing.T, p *engine.Pool)) {
	for _, c := range poolConfigs {
		t.Run(c.name, func(t *testing.T) { fn(t, newPool(t, c.cfg)) })
	}
}

// forProcPools runs fn on process pools only (faults that need processes).
func forProcPools(t *testing.T, fn func(t *testing.T, p *engine.Pool)) {
	for _, c := range poolConfigs {
		if c.cfg.Backend == engine.Process {
			t.Run(c.name, func(t *testing.T) { fn(t, newPool(t, c.cfg)) })
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

// distinctPIDs runs tasks, one at a time, until it has seen every worker
// (a worker that is slow to join its session may miss a short call).
func distinctPIDs(t *testing.T, p *engine.Pool) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for try := 0; try < 20 && len(seen) < p.Workers(); try++ {
		out, err := engine.Map[int, int](testCtx(t), p, "pid-slow", slices.Repeat([]int{2}, 10*p.Workers()), engine.Chunksize(1))
		require.NoError(t, err)
		for _, pid := range out {
			seen[pid] = true
		}
	}
	return seen
}

func TestPoolMapSquares(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		const n = 100_000
		in := make([]int, n)
		for i := range in {
			in[i] = i - n/2
		}
		for _, tc := range []struct {
			name string
			in   []int
			opts []engine.CallOption
		}{
			{"auto", in, nil},
			{"chunk=1", in[:3000], []engine.CallOption{engine.Chunksize(1)}},
			{"chunk=777", in, []engine.CallOption{engine.Chunksize(777)}},
			{"chunk=n", in, []engine.CallOption{engine.Chunksize(n)}},
		} {
			out, err := engine.Map[int, int](ctx, p, "sq", tc.in, tc.opts...)
			require.NoError(t, err, tc.name)
			require.Len(t, out, len(tc.in))
			for i, x := range tc.in {
				if out[i] != x*x {
					t.Fatalf("%s: out[%d] = %d, want %d", tc.name, i, out[i], x*x)
				}
			}
		}
		out, err := engine.Map[int, int](ctx, p, "sq", nil)
		require.NoError(t, err)
		require.Empty(t, out)
	})
}

func TestPoolMapGob(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		in := make([]wordArgs, 5000)
		for i := range in {
			in[i] = wordArgs{Word: fmt.Sprintf("w%d-", i%13), Times: i % 5}
		}
		for _, opts := range [][]engine.CallOption{nil, {engine.Chunksize(1)}, {engine.Chunksize(100)}} {
			out, err := engine.Map[wordArgs, string](ctx, p, "repeat", in, opts...)
			require.NoError(t, err)
			for i, a := range in {
				require.Equal(t, strings.Repeat(a.Word, a.Times), out[i])
			}
		}
		// StarMap style: several arguments in a flat struct.
		sums, err := engine.Map[addArgs, int](ctx, p, "add", []addArgs{{1, 2}, {3, 4}, {-5, 5}})
		require.NoError(t, err)
		require.Equal(t, []int{3, 7, 0}, sums)
	})
}

func TestPoolConcurrentCalls(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				in := ints(2000 + 100*g)
				out, err := engine.Map[int, int](ctx, p, "sq", in, engine.Chunksize(1+g*7))
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
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		out, err := engine.Map[int, int](ctx, p, "fail-odd", ints(20), engine.Chunksize(3))
		var te engine.TaskErrors
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

		out, err = engine.Map[int, int](ctx, p, "panic-at", ints(10), engine.Chunksize(4))
		var one *engine.TaskError
		require.ErrorAs(t, err, &one)
		require.Equal(t, 7, one.Index)
		var pe *engine.PanicError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "boom at 7", pe.Value)
		require.Contains(t, one.Stack, "pool_funcs_test.go", "the stack of the panicking task")
		require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 0, 8, 9}, out)

		// Apply returns the task's error itself.
		_, err = engine.Apply[int, int](ctx, p, "panic-at", 7)
		require.ErrorAs(t, err, &one)
		require.ErrorAs(t, err, &pe)
		v, err := engine.Apply[int, int](ctx, p, "panic-at", 6)
		require.NoError(t, err)
		require.Equal(t, 6, v)
	})
}

func TestPoolBadCalls(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		_, err := engine.Map[int, int](ctx, p, "no-such-func", ints(3))
		require.ErrorIs(t, err, engine.ErrUnknownFunc)
		_, err = engine.Map[int, string](ctx, p, "sq", ints(3))
		require.ErrorIs(t, err, engine.ErrFuncType)
		require.ErrorContains(t, err, "int and returns int")

		// A type gob can never encode: an error before anything runs.
		_, err = engine.Map[chanIn, int](ctx, p, "chan-in", []chanIn{{}})
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.ErrorContains(t, err, "chan")

		// A value gob cannot encode: found before any task runs.
		count := newArray[int64](t, 1)
		in := []anyArgs{{V: 1, Count: count}, {V: "x", Count: count}, {V: unregistered{A: 1}, Count: count}}
		_, err = engine.Map[anyArgs, string](ctx, p, "any-in", in)
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.ErrorContains(t, err, "input 2")
		require.ErrorContains(t, err, "unregistered")
		require.Zero(t, count.Data()[0], "no task ran")
		out, err := engine.Map[anyArgs, string](ctx, p, "any-in", in[:2])
		require.NoError(t, err)
		require.Equal(t, []string{"1", "x"}, out)
		require.EqualValues(t, 2, count.Data()[0])

		f := engine.ApplyAsync[anyArgs, string](ctx, p, "any-in", in[2])
		_, err = f.Result()
		require.ErrorIs(t, err, engine.ErrArgsEncode, "the future fails at once")
	})
}

func TestPoolResultEncoding(t *testing.T) {
	forProcPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		// A result gob cannot encode fails its task only.
		out, err := engine.Map[int, any](ctx, p, "any-out", ints(6), engine.Chunksize(6))
		var te engine.TaskErrors
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 1)
		require.Equal(t, 3, te[0].Index)
		require.ErrorIs(t, te[0], engine.ErrArgsEncode)
		require.Equal(t, []any{0, 1, 2, nil, 4, 5}, out)

		// Results larger than a message are sent in parts; one larger
		// than the queue fails alone.
		sizes := []int{100 << 10, 300 << 10, 8 << 20, 10, 200 << 10}
		bufs, err := engine.Map[int, []byte](ctx, p, "big-out", sizes, engine.Chunksize(5))
		require.ErrorAs(t, err, &te)
		require.Len(t, te, 1)
		require.Equal(t, 2, te[0].Index)
		require.ErrorIs(t, te[0], engine.ErrArgsTooLarge)
		for i, n := range sizes {
			if i != 2 {
				require.Len(t, bufs[i], n)
			}
		}
	})
}

func TestPoolWorkerKilled(t *testing.T) {
	for _, c := range poolConfigs {
		if c.cfg.Backend != engine.Process {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{1, 10} {
				t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
					p := newPool(t, c.cfg)
					ctx := testCtx(t)
					const n, at = 300, 137
					once := newArray[int64](t, 1)
					in := make([]killArgs, n)
					for i := range in {
						in[i] = killArgs{X: i, At: at, Once: once, Coord: os.Getpid()}
					}
					before := distinctPIDs(t, p)
					require.Len(t, before, p.Workers())

					// Idempotent: the tasks the dead worker held run again.
					out, err := engine.Map[killArgs, int](ctx, p, "kill-idem", in, engine.Chunksize(chunk))
					require.NoError(t, err)
					for i := range in {
						require.Equal(t, 2*i, out[i])
					}
					require.NotZero(t, once.Data()[0], "a worker killed itself")

					// Not idempotent: only the tasks it held fail.
					once.Data()[0] = 0
					out, err = engine.Map[killArgs, int](ctx, p, "kill-once", in, engine.Chunksize(chunk))
					var te engine.TaskErrors
					require.ErrorAs(t, err, &te)
					failed := map[int]bool{}
					for _, e := range te {
						failed[e.Index] = true
						require.ErrorIs(t, e, engine.ErrWorkerDied)
						require.Equal(t, syscall.SIGKILL, e.Signal)
						require.EqualValues(t, once.Data()[0], e.PID)
						// The batch of the task at "at": those that ran
						// before it, and it.
						require.LessOrEqual(t, e.Index, at)
						require.Greater(t, e.Index, at-chunk)
					}
					require.True(t, failed[at], "the task that was running fails")
					for i := range in {
						if !failed[i] {
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
	forProcPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		for _, fn := range []string{"sleep-ms-idem", "sleep-ms"} {
			in := slices.Repeat([]int{20}, 60)
			type res struct {
				out []int
				err error
			}
			done := make(chan res, 1)
			go func() {
				out, err := engine.Map[int, int](ctx, p, fn, in, engine.Chunksize(1))
				done <- res{out, err}
			}()
			time.Sleep(100 * time.Millisecond)
			pids := p.Team().PIDs()
			victim := pids[len(pids)-1]
			require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
			var r res
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Map hung after a worker was killed")
			}
			if fn == "sleep-ms-idem" {
				require.NoError(t, r.err)
			} else if r.err != nil {
				var te engine.TaskErrors
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

func TestPoolImapEndless(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		// Warm up: the pool's session (and its goroutines) runs.
		_, err := engine.Map[int, int](ctx, p, "sq", ints(10))
		require.NoError(t, err)
		goroutines := runtime.NumGoroutine()
		for _, opts := range [][]engine.CallOption{nil, {engine.Chunksize(3)}} {
			var pulled int
			var got []int
			for v, err := range engine.Imap[int, int](ctx, p, "sq", counting(&pulled), opts...) {
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
			out, err := engine.Map[int, int](ctx, p, "sq", ints(1000))
			require.NoError(t, err)
			require.Equal(t, 999*999, out[999])
			require.Equal(t, stopped, pulled)
		}
	})
}

func TestPoolImapOrder(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		for _, opts := range [][]engine.CallOption{nil, {engine.Chunksize(1)}, {engine.Chunksize(64)}} {
			n := 20_000
			if len(opts) > 0 && opts[0] == engine.Chunksize(1) {
				n = 2000
			}
			i := 0
			for v, err := range engine.Imap[int, int](ctx, p, "sq", slices.Values(ints(n)), opts...) {
				require.NoError(t, err)
				require.Equal(t, i*i, v)
				i++
			}
			require.Equal(t, n, i)
		}
		// Task errors come with their element; the sequence goes on.
		var errs []int
		i := 0
		for v, err := range engine.Imap[int, int](ctx, p, "fail-odd", slices.Values(ints(9))) {
			if err != nil {
				var te *engine.TaskError
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
		for _, err := range engine.Imap[int, int](ctx, p, "no-such-func", slices.Values(ints(9))) {
			require.ErrorIs(t, err, engine.ErrUnknownFunc)
			n++
		}
		require.Equal(t, 1, n)
	})
}

func TestPoolImapUnordered(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		const n = 10_000
		seen := make([]int, n)
		for r, err := range engine.ImapUnordered[int, int](ctx, p, "sq", slices.Values(ints(n))) {
			require.NoError(t, err)
			require.Equal(t, r.Index*r.Index, r.Value)
			seen[r.Index]++
		}
		for i, k := range seen {
			require.Equal(t, 1, k, "index %d", i)
		}
		// Stopped early, it stops the call.
		var pulled, k int
		for _, err := range engine.ImapUnordered[int, int](ctx, p, "sq", counting(&pulled)) {
			require.NoError(t, err)
			if k++; k == 10 {
				break
			}
		}
		_, err := engine.Map[int, int](ctx, p, "sq", ints(10))
		require.NoError(t, err)
	})
}

func TestPoolApplyAsync(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		var fs []*engine.Future[int]
		for i := range 20 {
			fs = append(fs, engine.ApplyAsync[int, int](ctx, p, "sq", i))
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
		slow := engine.ApplyAsync[int, int](slowCtx, p, "sleep-ms", 60_000)
		fast := engine.ApplyAsync[int, int](ctx, p, "sleep-ms", 1)
		failed := engine.ApplyAsync[int, int](ctx, p, "fail-odd", 3)
		_, err := slow.Result()
		require.ErrorIs(t, err, engine.ErrNotDone)
		short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = slow.Wait(short)
		cancelShort()
		require.ErrorIs(t, err, context.DeadlineExceeded, "Wait gives up, the task goes on")

		var order []*engine.Future[int]
		for f, err := range engine.AsCompleted(ctx, slow, fast, failed) {
			require.NoError(t, err)
			order = append(order, f)
			if len(order) == 2 {
				cancelSlow()
			}
		}
		require.Len(t, order, 3)
		require.Same(t, slow, order[2], "the slow task finishes last, when canceled")
		require.ElementsMatch(t, []*engine.Future[int]{fast, failed}, order[:2])
		_, err = slow.Result()
		require.ErrorIs(t, err, context.Canceled)
		v, err := fast.Result()
		require.NoError(t, err)
		require.Equal(t, 1, v)
		_, err = failed.Result()
		var te *engine.TaskError
		require.ErrorAs(t, err, &te)

		// AsCompleted stops when its context ends.
		never := engine.ApplyAsync[int, int](slowCtx, p, "sleep-ms", 1) // slowCtx is canceled: fails at once
		_, err = never.Wait(ctx)
		require.ErrorIs(t, err, context.Canceled)
		hang, cancelHang := context.WithCancel(ctx)
		defer cancelHang()
		pending := engine.ApplyAsync[int, int](hang, p, "sleep-ms", 60_000)
		short, cancelShort = context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancelShort()
		for f, err := range engine.AsCompleted(short, pending) {
			require.Nil(t, f)
			require.ErrorIs(t, err, context.DeadlineExceeded)
		}
	})
}

func TestPoolTimeout(t *testing.T) {
	for _, c := range poolConfigs {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, c.cfg)
			ctx := testCtx(t)
			spin := 60_000
			if c.cfg.Backend == engine.Goroutine {
				spin = 1500 // an abandoned goroutine runs until the function returns
			}
			var before map[int]bool
			if c.cfg.Backend == engine.Process {
				before = distinctPIDs(t, p)
			}
			in := []int{1, spin, 2, 3}
			start := time.Now()
			out, err := engine.Map[int, int](ctx, p, "spin", in, engine.Timeout(300*time.Millisecond), engine.Chunksize(4))
			require.Less(t, time.Since(start), 20*time.Second)
			var te engine.TaskErrors
			require.ErrorAs(t, err, &te)
			require.Len(t, te, 1)
			require.Equal(t, 1, te[0].Index)
			require.ErrorIs(t, te[0], engine.ErrTaskTimeout)
			require.Equal(t, []int{1, 0, 2, 3}, out, "the tasks after it run elsewhere")
			if c.cfg.Backend == engine.Process {
				require.True(t, before[te[0].PID])
				after := distinctPIDs(t, p)
				require.Len(t, after, p.Workers())
				require.False(t, after[te[0].PID], "the stuck worker was killed and replaced")
			}
			// A task that looks at its context ends by itself (usually with
			// its context's error, unless the watchdog is first).
			_, err = engine.Apply[int, int](ctx, p, "sleep-ms", 60_000, engine.Timeout(100*time.Millisecond))
			require.ErrorIs(t, err, engine.ErrTaskTimeout)
		})
	}
}

func TestPoolCancel(t *testing.T) {
	for _, c := range poolConfigs {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			cfg.CancelGrace = 200 * time.Millisecond
			p := newPool(t, cfg)
			ctx := testCtx(t)
			for _, fn := range []string{"sleep-ms", "spin"} {
				ms := 60_000
				if fn == "spin" && cfg.Backend == engine.Goroutine {
					ms = 1000
				}
				cctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(100*time.Millisecond, cancel)
				start := time.Now()
				_, err := engine.Map[int, int](cctx, p, fn, slices.Repeat([]int{ms}, 8), engine.Chunksize(1))
				require.ErrorIs(t, err, context.Canceled)
				require.Less(t, time.Since(start), 10*time.Second, "the call returns promptly")
				// Usable after, with every worker.
				out, err := engine.Map[int, int](ctx, p, "sq", ints(100), engine.Chunksize(1))
				require.NoError(t, err)
				require.Equal(t, 99*99, out[99])
			}
			_, err := engine.Map[int, int](doneCtx(), p, "sq", ints(3))
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
	for _, c := range poolConfigs {
		if c.cfg.Backend != engine.Process {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, c.cfg, engine.MaxTasksPerWorker(10))
			ctx := testCtx(t)
			out, err := engine.Map[int, int](ctx, p, "pid", ints(60), engine.Chunksize(4))
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

func TestPoolClose(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		team := p.Team()
		type res struct{ err error }
		done := make(chan res, 1)
		go func() {
			_, err := engine.Map[int, int](ctx, p, "sleep-ms", slices.Repeat([]int{60_000}, 4))
			done <- res{err}
		}()
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, p.Close())
		require.NoError(t, p.Close(), "idempotent")
		select {
		case r := <-done:
			require.ErrorIs(t, r.err, engine.ErrPoolClosed)
		case <-time.After(20 * time.Second):
			t.Fatal("a call still running did not end when the pool closed")
		}
		_, err := engine.Map[int, int](ctx, p, "sq", ints(3))
		require.ErrorIs(t, err, engine.ErrPoolClosed)
		for _, err := range engine.Imap[int, int](ctx, p, "sq", slices.Values(ints(3))) {
			require.ErrorIs(t, err, engine.ErrPoolClosed)
		}
		_, err = engine.ApplyAsync[int, int](ctx, p, "sq", 3).Wait(ctx)
		require.ErrorIs(t, err, engine.ErrPoolClosed)
		// The team is still usable, and takes a new pool.
		require.NoError(t, noopK.For(ctx, team, 10, struct{}{}))
		p2, err := engine.NewPool(team)
		require.NoError(t, err)
		defer p2.Close()
		v, err := engine.Apply[int, int](ctx, p2, "sq", 9)
		require.NoError(t, err)
		require.Equal(t, 81, v)
	})
}

func TestPoolSharesTeam(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		for range 3 {
			_, err := engine.Map[int, int](ctx, p, "sq", ints(1000))
			require.NoError(t, err)
			// For waits until the pool is idle, then runs.
			require.NoError(t, noopK.For(ctx, p.Team(), 100, struct{}{}))
		}
	})
}

func TestNewPoolErrors(t *testing.T) {
	team := startTeam(t, engine.Config{Workers: 1, Primary: true})
	_, err := engine.NewPool(team)
	require.ErrorContains(t, err, "no worker processes")
	team2 := startTeam(t, engine.Config{Workers: 1})
	_, err = engine.NewPool(team2, engine.QueueSize(10))
	require.ErrorContains(t, err, "QueueSize")
	_, err = engine.NewPool(nil)
	require.Error(t, err)
	require.NoError(t, team2.Close())
	_, err = engine.NewPool(team2)
	require.ErrorIs(t, err, engine.ErrClosed)
}

func TestTaskErrorsFormat(t *testing.T) {
	e := engine.TaskErrors{
		{Func: "f", Index: 3, Worker: 1, PID: 42, Err: errors.New("bad")},
		{Func: "f", Index: 5, Worker: -1, Err: engine.ErrWorkerDied},
	}
	require.Equal(t, `engine: 2 tasks failed; the first: engine: func "f" task 3: worker 1 (pid 42): bad`, e.Error())
	require.ErrorIs(t, e, engine.ErrWorkerDied)
	require.Equal(t, `engine: func "f" task 5: worker process died`, e[1].Error())
}

func TestPoolWorkerKilledWhileIdle(t *testing.T) {
	forProcPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		for range 2 {
			before := distinctPIDs(t, p)
			for pid := range before {
				require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
				break
			}
			out, err := engine.Map[int, int](ctx, p, "sq", ints(1000))
			require.NoError(t, err)
			require.Equal(t, 999*999, out[999])
			after := distinctPIDs(t, p)
			require.Len(t, after, p.Workers())
		}
	})
}

func TestPoolTeamClosedUnderneath(t *testing.T) {
	for _, c := range poolConfigs {
		t.Run(c.name, func(t *testing.T) {
			team, err := engine.Start(c.cfg)
			require.NoError(t, err)
			p, err := engine.NewPool(team)
			require.NoError(t, err)
			ctx := testCtx(t)
			_, err = engine.Map[int, int](ctx, p, "sq", ints(100))
			require.NoError(t, err)
			require.NoError(t, team.Close())
			_, err = engine.Map[int, int](ctx, p, "sq", ints(100))
			if c.cfg.Backend == engine.Process {
				require.ErrorIs(t, err, engine.ErrClosed)
			}
			require.NoError(t, p.Close())
		})
	}
}
