package pool_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
	"github.com/shmpar/shmpar/internal/testproc"
)

// Stalls: a worker process stopped (SIGSTOP) while it holds tasks must not
// hang a call, with a Timeout or without one.

// stopArgs make the task with X == At write its pid into the file named in
// Marker (created once), then sleep Ms milliseconds or until its context
// ends; the test stops that worker process meanwhile.
type stopArgs struct {
	X, At, Ms int
	Marker    [256]byte
}

func stopMe(ctx context.Context, a stopArgs) (int, error) {
	if a.X == a.At {
		path := string(bytes.TrimRight(a.Marker[:], "\x00"))
		if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprint(f, os.Getpid())
			f.Close()
			return sleep(ctx, a.Ms)
		}
	}
	return 3 * a.X, nil
}

var (
	stopMeF     = pool.Register("stop-me", stopMe)
	stopMeIdemF = pool.Register("stop-me-idem", stopMe, pool.Idempotent())
)

// awaitPIDFile waits until path holds a pid and returns it.
func awaitPIDFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			require.NoError(t, err)
			return pid
		}
		require.True(t, time.Now().Before(deadline), "no pid in %s", path)
		time.Sleep(time.Millisecond)
	}
}

// procState returns the state letter of process pid ('T' stopped), or 0
// if it is gone.
func procState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// awaitStopped waits until process pid is observably stopped.
func awaitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for procState(pid) != 'T' {
		require.True(t, time.Now().Before(deadline), "process %d never stopped (state %c)", pid, procState(pid))
		time.Sleep(time.Millisecond)
	}
}

// awaitCall waits (at most 30 s) for a call running in the background.
func awaitCall[T any](t *testing.T, done <-chan T) T {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the call hung on a stopped worker")
	}
	panic("unreachable")
}

type mapResult struct {
	out []int
	err error
}

// A worker stopped while it runs a task, with no Timeout: the stall watch
// kills it after the stall limit, on both paths.
func TestPoolStoppedWorker(t *testing.T) {
	for _, path := range []string{"direct", "session"} {
		for _, fn := range []*pool.Func[stopArgs, int]{stopMeF, stopMeIdemF} {
			t.Run(path+"/"+fn.Name(), func(t *testing.T) {
				ctx := teamtest.Ctx(t)
				p := newPool(t, []engine.TeamOption{engine.Workers(2)}, pool.StallLimit(300*time.Millisecond))
				m, file := marker(t)
				const n, at = 100, 37
				in := make([]stopArgs, n)
				for i := range in {
					in[i] = stopArgs{X: i, At: at, Ms: 2000, Marker: m}
				}
				opts := []pool.CallOption{pool.ChunkSize(5)}
				r0 := pool.DirectRounds(p)
				done := make(chan mapResult, 1)
				go func() {
					var out []int
					var err error
					if path == "session" {
						// The session path: through ImapUnordered.
						out = make([]int, n)
						for r, e := range fn.ImapUnordered(ctx, p, sliceSeq(in), opts...) {
							if e != nil && r.Index < 0 {
								err = e
								break
							}
							if e != nil {
								err = e
							}
							if r.Index >= 0 {
								out[r.Index] = r.Value
							}
						}
					} else {
						out, err = fn.Map(ctx, p, in, opts...)
					}
					done <- mapResult{out, err}
				}()
				pid := awaitPIDFile(t, file)
				require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
				awaitStopped(t, pid)
				r := awaitCall(t, done)
				if path == "direct" {
					require.Greater(t, pool.DirectRounds(p), r0)
				}
				if fn == stopMeIdemF {
					require.NoError(t, r.err)
				} else {
					var te *pool.TaskError
					require.ErrorAs(t, r.err, &te)
					require.Equal(t, at, te.Index)
					require.Equal(t, pid, te.PID)
					require.ErrorIs(t, te, engine.ErrWorkerDied)
					require.ErrorContains(t, te, "stall limit")
				}
				for i := range in {
					if i != at {
						require.Equal(t, 3*i, r.out[i], "task %d", i)
					}
				}
				teamtest.AwaitGone(t, pid, 20*time.Second)
				require.Len(t, distinctPIDs(t, p), 2, "the pool goes on with a full team")
			})
		}
	}
}

func sliceSeq[T any](s []T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for _, v := range s {
			if !yield(v) {
				return
			}
		}
	}
}

// A worker that stops between tasks while it holds batches of a call with
// a Timeout is caught by the Timeout: every moment of a task's life on a
// worker counts, not only its run. No task is blamed: the batches it held
// run on the others.
func TestPoolTimeoutStoppedBetweenTasks(t *testing.T) {
	for _, moment := range []string{"got", "sent", "task-done"} {
		t.Run(moment, func(t *testing.T) {
			ctx := teamtest.Ctx(t)
			_, file := marker(t)
			cfg := []engine.TeamOption{engine.Workers(2), engine.Env(pool.EnvStopAt + "=" + moment + ":" + file)}
			// No stall watch: the Timeout alone must see it.
			p := newPool(t, cfg, pool.StallLimit(-1))
			chunk := 1
			if moment == "task-done" {
				chunk = 4
			}
			done := make(chan mapResult, 1)
			go func() {
				out, err := sleepMsF.Map(ctx, p, slicesRepeat(2, 200), pool.Timeout(300*time.Millisecond), pool.ChunkSize(chunk))
				done <- mapResult{out, err}
			}()
			pid := awaitPIDFile(t, file)
			awaitStopped(t, pid)
			r := awaitCall(t, done)
			require.NoError(t, r.err)
			for i, v := range r.out {
				require.Equal(t, 2, v, "task %d", i)
			}
			teamtest.AwaitGone(t, pid, 20*time.Second)
		})
	}
}

func slicesRepeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// A worker stopped while it holds no task cannot be caught by watching the
// tasks it runs, yet it holds up every task of a call with a Timeout that
// waits for a session: one that never says hello keeps the session short,
// and one that never leaves keeps a draining session, and so the next one,
// from ending. The Timeout covers that wait too: the absent worker is
// killed, blaming no task, and the call runs on the others.
func TestPoolTimeoutStoppedOutsideSession(t *testing.T) {
	for _, when := range []string{"draining", "before-hello"} {
		t.Run(when, func(t *testing.T) {
			ctx := teamtest.Ctx(t)
			_, file := marker(t)
			// No stall watch, in the pool nor in the team: the Timeout
			// alone must see it.
			cfg := []engine.TeamOption{engine.Workers(2), engine.StallLimit(-1), engine.Env(pool.EnvStopAt + "=sent:" + file)}
			p := newPool(t, cfg, pool.StallLimit(-1))
			timeout := pool.Timeout(300 * time.Millisecond)
			pids := p.Team().PIDs()
			require.Len(t, pids, 2)
			var stopped []int
			if when == "draining" {
				// One task: the worker that runs it stops itself once
				// it has sent its result, holding nothing. The session
				// then drains, and stays draining: the stopped worker
				// never leaves it.
				out, err := sleepMsF.Map(ctx, p, []int{1}, timeout)
				require.NoError(t, err)
				require.Equal(t, []int{1}, out)
				pid := awaitPIDFile(t, file)
				awaitStopped(t, pid)
				stopped = []int{pid}
				live := 1
				if pids[1] == pid {
					live = 0
				}
				testproc.WaitFor(t, "the live worker leaves the session", func() bool {
					return pool.LeftSession(p, live) > 0
				})
				require.Zero(t, pool.LeftSession(p, 1-live), "the stopped worker left the session")
			} else {
				// Every worker stops before the session starts: none
				// says hello.
				stopped = pids
				for _, pid := range pids {
					require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
					awaitStopped(t, pid)
				}
			}
			done := make(chan mapResult, 1)
			go func() {
				out, err := sleepMsF.Map(ctx, p, slicesRepeat(2, 40), timeout, pool.ChunkSize(1))
				done <- mapResult{out, err}
			}()
			r := awaitCall(t, done)
			require.NoError(t, r.err, "no task was running on the stopped workers")
			require.Equal(t, slicesRepeat(2, 40), r.out)
			for _, pid := range stopped {
				teamtest.AwaitGone(t, pid, 20*time.Second)
			}
			require.Len(t, distinctPIDs(t, p), 2, "the pool goes on with a full team")
		})
	}
}
