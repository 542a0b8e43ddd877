package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

// Faults: kernels that fail or panic, calls that cannot run, cancellation,
// and worker processes that die.

// envDieAtStart names a directory: a process of the test binary started
// with it (a worker, through the Env option) that finds the file "armed" there
// renames it to "fired" and SIGKILLs itself before it reports ready. One
// process wins the rename; the others start normally.
const envDieAtStart = "SHMPAR_TEST_DIE_AT_START"

func init() {
	if dir := os.Getenv(envDieAtStart); dir != "" {
		if os.Rename(filepath.Join(dir, "armed"), filepath.Join(dir, "fired")) == nil {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
}

func TestKernelPanic(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		for _, at := range []int{0, 777} {
			err := panicK.For(teamtest.Ctx(t), team, 1000, failArgs{At: at}, engine.Dynamic(10))
			var we *engine.WorkerError
			require.ErrorAs(t, err, &we)
			var pe *engine.PanicError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, fmt.Sprintf("boom at %d", at), pe.Value)
			require.Equal(t, "panic", we.Kernel)
			require.LessOrEqual(t, we.Lo, at)
			require.Less(t, at, we.Hi)
			require.Contains(t, we.Stack, "kernels_test.go")
			require.Positive(t, we.PID)
			require.Contains(t, err.Error(), "boom")
		}
		// The team still works.
		require.NoError(t, noopK.For(teamtest.Ctx(t), team, 100, struct{}{}))
	})
}

func TestKernelError(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		err := errorK.For(teamtest.Ctx(t), team, 1000, failArgs{At: 500}, engine.Static())
		var we *engine.WorkerError
		require.ErrorAs(t, err, &we)
		require.Equal(t, "bad element 500", we.Err.Error())
		require.LessOrEqual(t, we.Lo, 500)
		require.Less(t, 500, we.Hi)
		require.GreaterOrEqual(t, we.Worker, 0)
		require.Less(t, we.Worker, team.Workers())
		require.Empty(t, we.Stack)
		require.NoError(t, noopK.For(teamtest.Ctx(t), team, 100, struct{}{}))
	})
}

func TestBadCalls(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		// A name or argument type the kernel does not have cannot be
		// written: the handle carries both. A handle that was never
		// registered is an error, not a panic.
		var never *engine.Kernel[int]
		err := never.For(ctx, team, 10, 1)
		require.ErrorIs(t, err, engine.ErrUnknownKernel)
		var neverR *engine.ReduceKernel[int, int]
		_, err = neverR.Reduce(ctx, team, 10, 1, engine.Sum[int]())
		require.ErrorIs(t, err, engine.ErrUnknownKernel)
		_, _, err = neverR.Partials(ctx, team, 10, 1)
		require.ErrorIs(t, err, engine.ErrUnknownKernel)

		_, err = isumK.Reduce(ctx, team, 10, emptyArgs{}, engine.Op[int64]{})
		require.ErrorContains(t, err, "zero Op")

		err = chanArgsK.For(ctx, team, 10, chanArgs{C: make(chan int)})
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.Contains(t, err.Error(), "chan")
		err = unexportedArgsK.For(ctx, team, 10, unexportedArgs{x: 1})
		require.ErrorIs(t, err, engine.ErrArgsEncode)
		require.Contains(t, err.Error(), "no exported fields")

		require.NoError(t, emptyArgsK.For(ctx, team, 10, emptyArgs{}))
		require.NoError(t, noopK.For(ctx, team, 10, struct{}{}))
		require.NoError(t, anyArgsK.For(ctx, team, 10, 3.5))
		require.NoError(t, anyArgsK.For(ctx, team, 10, nil))
		require.NoError(t, bytesK.For(ctx, team, 10, make([]byte, 1000)))
	})
}

func TestArgsTooLarge(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1), engine.MaxArgs(4096))
	err := bytesK.For(teamtest.Ctx(t), team, 10, make([]byte, 10000))
	require.ErrorIs(t, err, engine.ErrArgsTooLarge)
	require.Equal(t, 1, strings.Count(err.Error(), "engine: "), "one prefix: %v", err)
	require.NoError(t, bytesK.For(teamtest.Ctx(t), team, 10, make([]byte, 100)))
}

func TestCancel(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx, cancel := context.WithCancel(teamtest.Ctx(t))
		time.AfterFunc(50*time.Millisecond, cancel)
		err := waitCancelK.For(ctx, team, 100, struct{}{})
		require.ErrorIs(t, err, context.Canceled)

		ctx, cancel = context.WithTimeout(teamtest.Ctx(t), 50*time.Millisecond)
		defer cancel()
		err = waitCtxK.For(ctx, team, 100, struct{}{}, engine.Dynamic(1))
		require.ErrorIs(t, err, context.DeadlineExceeded)

		// Already canceled: nothing runs.
		ctx, cancel = context.WithCancel(teamtest.Ctx(t))
		cancel()
		require.ErrorIs(t, noopK.For(ctx, team, 100, struct{}{}), context.Canceled)

		require.NoError(t, noopK.For(teamtest.Ctx(t), team, 100, struct{}{}))
	})
}

func TestCancelKillsHungWorker(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2), engine.CancelGrace(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(teamtest.Ctx(t), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- hangK.For(ctx, team, 2, struct{}{}) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(15 * time.Second):
		t.Fatal("For did not return after its deadline and grace period")
	}
	// The killed workers are replaced.
	a := teamtest.Array[int64](t, 100)
	require.NoError(t, fillK.For(teamtest.Ctx(t), team, 100, fillArgs{A: a}))
	for _, v := range a.Data()[:100] {
		require.Equal(t, int64(1), v)
	}
}

// pids returns the pid of each participant of a team.
func pids(t *testing.T, team *engine.Team) map[int]bool {
	t.Helper()
	m := map[int]bool{}
	for _, p := range team.PIDs() {
		m[p] = true
	}
	return m
}

func TestWorkerKilledMidJob(t *testing.T) {
	for _, idem := range []bool{true, false} {
		for _, s := range []struct {
			name string
			opt  engine.Option
		}{{"static", engine.Static()}, {"dynamic", engine.Dynamic(50)}, {"guided", engine.Guided(10)}, {"det", engine.Deterministic(64)}} {
			for _, c := range []struct {
				workers int
				primary bool
			}{{1, false}, {2, false}, {2, true}} {
				workers, primary := c.workers, c.primary
				name := fmt.Sprintf("idempotent=%v/%s/workers=%d/primary=%v", idem, s.name, workers, primary)
				t.Run(name, func(t *testing.T) {
					team := teamtest.Team(t, engine.Workers(workers), engine.Primary(primary))
					const n = 1000
					a := teamtest.Array[int64](t, n)
					once := teamtest.Array[int64](t, 1)
					kernel := killOnceK
					if idem {
						kernel = killIdemK
					}
					before := pids(t, team)
					err := kernel.For(teamtest.Ctx(t), team, n, failArgs{At: 500, A: a, Once: once, Coord: os.Getpid()}, s.opt)
					require.NotZero(t, once.Data()[0], "the kernel did not kill a worker")
					if idem {
						require.NoError(t, err)
						for i, v := range a.Data()[:n] {
							require.Equal(t, 2*int64(i), v, "element %d", i)
						}
					} else {
						var we *engine.WorkerError
						require.ErrorAs(t, err, &we)
						require.ErrorIs(t, err, engine.ErrWorkerDied)
						require.Equal(t, syscall.SIGKILL, we.Signal)
						require.Equal(t, int(once.Data()[0]), we.PID)
						require.Less(t, 500, we.Hi)
						require.Contains(t, err.Error(), "signal")
					}
					// The team heals: the next job runs on a full team of new pids.
					clear(a.Data())
					once.Data()[0] = -1 // no more kills
					require.NoError(t, kernel.For(teamtest.Ctx(t), team, n, failArgs{At: -1, A: a, Once: once}, s.opt))
					for i, v := range a.Data()[:n] {
						require.Equal(t, 2*int64(i), v, "element %d after healing", i)
					}
					after := pids(t, team)
					require.Len(t, after, team.Workers())
					require.NotEqual(t, before, after)
				})
			}
		}
	}
}

// Every worker process of a job dies in the middle of a chunk of a kernel
// that is not idempotent (x[i] += 1): the team replaces them and runs every
// chunk nobody had claimed before For returns, and the error names each
// chunk that was running on a dead worker. Those chunks are the only
// elements not incremented exactly once.
func TestUnclaimedWorkFinishedWhenEveryWorkerDies(t *testing.T) {
	for _, s := range []struct {
		name string
		opt  engine.Option
	}{{"dynamic", engine.Dynamic(50)}, {"guided", engine.Guided(10)}, {"det", engine.Deterministic(64)}, {"static", engine.Static()}} {
		for _, c := range []struct {
			workers int
			primary bool
		}{{1, false}, {2, false}, {3, true}} {
			t.Run(fmt.Sprintf("%s/workers=%d/primary=%v", s.name, c.workers, c.primary), func(t *testing.T) {
				team := teamtest.Team(t, engine.Workers(c.workers), engine.Primary(c.primary))
				kills := c.workers
				if c.primary {
					kills--
				}
				const n = 2000
				a := teamtest.Array[int64](t, n)
				gate := teamtest.Array[int64](t, 2+kills)
				gate.Data()[1] = int64(kills)
				before := team.PIDs()
				err := incK.For(teamtest.Ctx(t), team, n, incArgs{A: a, Gate: gate, Coord: os.Getpid()}, s.opt)
				require.Error(t, err)
				require.ErrorIs(t, err, engine.ErrWorkerDied)

				var died []int // chunk starts recorded by the dying workers
				for _, v := range gate.Data()[2 : 2+kills] {
					require.Positive(t, v, "a worker did not die in a chunk")
					died = append(died, int(v-1))
				}
				wes := engine.WorkerErrors(err)
				var named []int
				inNamed := make([]bool, n)
				for _, we := range wes {
					require.Equal(t, syscall.SIGKILL, we.Signal, "%v", we)
					require.ErrorIs(t, we, engine.ErrWorkerDied)
					require.Less(t, we.Lo, we.Hi)
					named = append(named, we.Lo)
					for i := we.Lo; i < we.Hi; i++ {
						inNamed[i] = true
					}
				}
				require.ElementsMatch(t, died, named, "the error names exactly the chunks running on dead workers: %v", err)
				for i, v := range a.Data()[:n] {
					if inNamed[i] {
						require.True(t, v == 0 || v == 1, "element %d of a named chunk = %d", i, v)
					} else {
						require.Equal(t, int64(1), v, "element %d outside the named chunks", i)
					}
				}

				// The next job runs on a full team of new worker processes.
				clear(a.Data())
				require.NoError(t, incK.For(teamtest.Ctx(t), team, n, incArgs{A: a}, s.opt))
				for i, v := range a.Data()[:n] {
					require.Equal(t, int64(1), v, "element %d after healing", i)
				}
				after := team.PIDs()
				for i := range after {
					require.NotZero(t, after[i])
					if i > 0 || !c.primary {
						require.NotEqual(t, before[i], after[i], "participant %d was not replaced", i)
					}
				}
			})
		}
	}
}

// A chunk of an idempotent kernel that kills its worker every time it runs
// is run again once, then named in the error; the rest of the job is done.
// A kernel that kills every worker on every chunk makes the job give up
// after a bounded number of recoveries instead of looping for ever.
func TestChunkThatAlwaysKillsItsWorker(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1))
	const n = 1000
	a := teamtest.Array[int64](t, n)
	err := crashK.For(teamtest.Ctx(t), team, n, failArgs{At: 520, A: a}, engine.Dynamic(50))
	wes := engine.WorkerErrors(err)
	require.Len(t, wes, 1, "%v", err)
	require.Equal(t, [2]int{500, 550}, [2]int{wes[0].Lo, wes[0].Hi})
	require.ErrorIs(t, err, engine.ErrWorkerDied)
	require.Contains(t, err.Error(), "not run a third time")
	for i, v := range a.Data()[:n] {
		if i < 500 || i >= 550 {
			require.Equal(t, 2*int64(i), v, "element %d", i)
		}
	}

	err = crashK.For(teamtest.Ctx(t), team, n, failArgs{At: -1, A: a}, engine.Dynamic(50))
	require.ErrorIs(t, err, engine.ErrWorkerDied)
	require.Contains(t, err.Error(), "given up")
	require.NoError(t, noopK.For(teamtest.Ctx(t), team, 10, struct{}{}), "the team heals after giving up")
}

func TestIdleWorkerKilled(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2))
	before := team.PIDs()
	require.NoError(t, syscall.Kill(before[1], syscall.SIGKILL))
	// Wait until the team has seen the death (PIDs shows 0 for a dead
	// worker): the next job must then replace it before it starts.
	deadline := time.Now().Add(20 * time.Second)
	for team.PIDs()[1] != 0 {
		require.True(t, time.Now().Before(deadline), "the team did not notice its worker's death in 20 s")
		time.Sleep(time.Millisecond)
	}
	a := teamtest.Array[int64](t, 1000)
	for _, s := range schedules {
		clear(a.Data())
		require.NoError(t, fillK.For(teamtest.Ctx(t), team, 1000, fillArgs{A: a}, s.opt))
		for i, v := range a.Data()[:1000] {
			require.Equal(t, int64(1), v, "%s: element %d", s.name, i)
		}
	}
	after := team.PIDs()
	require.Equal(t, before[0], after[0])
	require.NotEqual(t, before[1], after[1])
	require.NotZero(t, after[1])
}

var (
	lateOnce sync.Once
	lateK    *engine.Kernel[struct{}]
)

func TestKernelRegisteredAfterMain(t *testing.T) {
	// Registered here, after engine.Main returned in TestMain: the worker
	// processes (which never get here) do not have it.
	lateOnce.Do(func() {
		lateK = engine.Register("late", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })
	})
	team := teamtest.Team(t, engine.Workers(1))
	err := lateK.For(teamtest.Ctx(t), team, 10, struct{}{})
	var we *engine.WorkerError
	require.ErrorAs(t, err, &we)
	require.ErrorIs(t, err, engine.ErrUnknownKernel)
	require.Contains(t, err.Error(), "init")
	require.NotContains(t, err.Error(), "engine: ", "a WorkerError says what failed, with no package prefix")
	// The goroutine backend has it.
	g := teamtest.Team(t, engine.Workers(1), engine.Goroutine)
	require.NoError(t, lateK.For(teamtest.Ctx(t), g, 10, struct{}{}))
}

// Each failure type says what failed, once, with no package prefix (the
// caller adds its own context when it wraps one).
func TestWorkerErrorFormat(t *testing.T) {
	we := &engine.WorkerError{Kernel: "k", Worker: 1, Lo: 10, Hi: 20,
		Failure: engine.Failure{PID: 42, Err: engine.ErrWorkerDied, Signal: syscall.SIGKILL, Output: "fatal error: x"}}
	require.Equal(t, "kernel \"k\": worker 1 (pid 42) chunk [10, 20): worker process died\nworker stderr (tail):\nfatal error: x", we.Error())
	require.ErrorIs(t, we, engine.ErrWorkerDied)
	we = &engine.WorkerError{Kernel: "k", Worker: 0, Failure: engine.Failure{PID: 7, Err: &engine.PanicError{Value: "boom"}}}
	require.Equal(t, "kernel \"k\": worker 0 (pid 7): panic: boom", we.Error(), "no chunk: none is named")
	var pe *engine.PanicError
	require.ErrorAs(t, we, &pe)
}
