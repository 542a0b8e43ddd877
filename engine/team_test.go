package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

func forConfigs(t *testing.T, fn func(t *testing.T, team *engine.Team)) {
	for _, c := range teamtest.Shapes {
		t.Run(c.Name, func(t *testing.T) { fn(t, teamtest.Team(t, c.Opts()...)) })
	}
}

var schedules = []struct {
	name string
	opt  engine.Option
}{
	{"static", engine.Static()},
	{"dynamic-1", engine.Dynamic(1)},
	{"dynamic-7", engine.Dynamic(7)},
	{"dynamic-default", engine.Dynamic(0)},
	{"guided-1", engine.Guided(1)},
	{"guided-16", engine.Guided(16)},
	{"det-3", engine.Deterministic(3)},
	{"det-default", engine.Deterministic(0)},
}

const guard = 64 // guard elements on each side of the data

func TestEachScheduleWritesEachElementOnce(t *testing.T) {
	ns := []int{0, 1, 2, 3, 97, 1000, 4099}
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		a := teamtest.Array[int64](t, 4099+2*guard)
		d := a.Data()
		for _, s := range schedules {
			for _, n := range ns {
				clear(d)
				require.NoError(t, fillK.For(ctx, team, n, fillArgs{A: a, Off: guard}, s.opt), "%s n=%d", s.name, n)
				for i, v := range d {
					want := int64(0)
					if i >= guard && i < guard+n {
						want = 1
					}
					if v != want {
						t.Fatalf("%s n=%d: element %d (index %d) = %d, want %d", s.name, n, i-guard, i, v, want)
					}
				}
			}
		}
	})
}

func TestRangeRunsOnlyTheSlice(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		a := teamtest.Array[int64](t, 1000)
		d := a.Data()
		for _, s := range schedules {
			clear(d)
			require.NoError(t, fillK.For(ctx, team, 1000, fillArgs{A: a}, s.opt, engine.Range(123, 777)))
			for i, v := range d {
				want := int64(0)
				if i >= 123 && i < 777 {
					want = 1
				}
				require.Equal(t, want, v, "%s: element %d", s.name, i)
			}
		}
		err := fillK.For(ctx, team, 1000, fillArgs{A: a}, engine.Range(10, 1001))
		require.ErrorIs(t, err, engine.ErrBadRange)
		require.ErrorIs(t, fillK.For(ctx, team, -1, fillArgs{A: a}), engine.ErrBadRange)
	})
}

func TestReduceEqualsSerial(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		for _, s := range schedules {
			for _, n := range []int{0, 1, 5, 1000, 100003} {
				got, err := isumK.Reduce(ctx, team, n, emptyArgs{}, engine.Sum[int64](), s.opt)
				require.NoError(t, err)
				require.Equal(t, int64(n)*int64(n-1)/2, got, "%s n=%d", s.name, n)
			}
		}
		mx, err := imaxK.Reduce(ctx, team, 5000, struct{}{}, engine.Max[int32](), engine.Dynamic(100))
		require.NoError(t, err)
		require.Equal(t, int32(999), mx)
		mn, err := imaxK.Reduce(ctx, team, 5000, struct{}{}, engine.Min[int32](), engine.Dynamic(100))
		require.NoError(t, err)
		require.Equal(t, int32(99), mn)
		empty, err := imaxK.Reduce(ctx, team, 0, struct{}{}, engine.Min[int32]())
		require.NoError(t, err)
		require.Equal(t, int32(math.MaxInt32), empty)
		cnt, err := isumK.Reduce(ctx, team, 1000, emptyArgs{}, engine.Combine(int64(0), func(a, b int64) int64 { return a + 1 }), engine.Dynamic(10))
		require.NoError(t, err)
		require.Equal(t, int64(100), cnt, "Combine sees one partial per chunk")
		// More chunks than the partial area holds: deterministic rounds.
		big, err := isumK.Reduce(ctx, team, 1<<17+5, emptyArgs{}, engine.Sum[int64](), engine.Deterministic(1))
		require.NoError(t, err)
		require.Equal(t, int64(1<<17+5)*int64(1<<17+4)/2, big)
	})
}

// A reduction whose kernel folds its chunk with math.Min (and math.Max)
// over data holding one NaN returns NaN, as math.Min and numpy do, and the
// sign of a zero minimum survives; negative schedule options are refused
// before anything runs.
func TestReduceMinMaxNaN(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		a := teamtest.Array[float64](t, 1000)
		d := a.Data()[:1000]
		for i := range d {
			d[i] = float64(1 + i%17)
		}
		d[613] = math.NaN()
		for _, s := range schedules {
			mn, err := fminK.Reduce(ctx, team, 1000, sumArgs{A: a}, engine.Min[float64](), s.opt)
			require.NoError(t, err)
			require.True(t, math.IsNaN(mn), "%s: Min = %v, want NaN", s.name, mn)
			mx, err := fmaxK.Reduce(ctx, team, 1000, sumArgs{A: a}, engine.Max[float64](), s.opt)
			require.NoError(t, err)
			require.True(t, math.IsNaN(mx), "%s: Max = %v, want NaN", s.name, mx)
		}
		d[613] = 5
		d[100], d[900] = 0, math.Copysign(0, -1)
		mn, err := fminK.Reduce(ctx, team, 1000, sumArgs{A: a}, engine.Min[float64](), engine.Dynamic(10))
		require.NoError(t, err)
		require.True(t, mn == 0 && math.Signbit(mn), "Min = %v, want -0", mn)

		for _, opt := range []engine.Option{engine.Dynamic(-3), engine.Guided(-1), engine.Deterministic(-64)} {
			_, err := fminK.Reduce(ctx, team, 1000, sumArgs{A: a}, engine.Min[float64](), opt)
			require.ErrorIs(t, err, engine.ErrBadOption)
			require.ErrorIs(t, fillK.For(ctx, team, 10, fillArgs{}, opt), engine.ErrBadOption)
		}
	})
}

// randomFloats fills an array with values whose float64 sum depends on the
// order of additions.
func randomFloats(t *testing.T, n int) *array.Array[float64] {
	a := teamtest.Array[float64](t, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range a.Data() {
		a.Data()[i] = math.Exp(r.NormFloat64()*10) * float64(1-2*(i%2))
	}
	return a
}

func TestDeterministicReduceBitwise(t *testing.T) {
	const n = 200003
	a := randomFloats(t, n)
	ctx := teamtest.Ctx(t)
	var ref uint64
	for _, b := range []engine.Backend{engine.Process, engine.Goroutine} {
		for w := 1; w <= 4; w++ {
			team := teamtest.Team(t, engine.Workers(w), b, engine.Primary(w%2 == 0))
			for _, grain := range []int{0, 1000} {
				got, err := sumK.Reduce(ctx, team, n, sumArgs{A: a}, engine.Sum[float64](), engine.Deterministic(grain))
				require.NoError(t, err)
				if grain == 0 {
					if ref == 0 {
						ref = math.Float64bits(got)
					}
					require.Equal(t, ref, math.Float64bits(got), "%s workers=%d: %v", b, w, got)
				}
			}
			require.NoError(t, team.Close())
		}
	}
	// The serial sum in the same chunk order is the same number.
	g := engine.Grain(n)
	serial := 0.0
	for lo := 0; lo < n; lo += g {
		part := 0.0
		for _, v := range a.Data()[lo:min(lo+g, n)] {
			part += v
		}
		serial += part
	}
	require.Equal(t, math.Float64bits(serial), ref)
}

func TestPartialsCombineAcrossSlices(t *testing.T) {
	const n = 100000
	a := randomFloats(t, n)
	ctx := teamtest.Ctx(t)
	team := teamtest.Team(t, engine.Workers(2))
	whole, err := sumK.Reduce(ctx, team, n, sumArgs{A: a}, engine.Sum[float64](), engine.Deterministic(1000))
	require.NoError(t, err)
	// Three "ranks" each reduce an aligned slice; their partials, folded in
	// global order, give the single-team result bit for bit.
	var all []float64
	next := 0
	for _, r := range [][2]int{{0, 33000}, {33000, 71000}, {71000, n}} {
		first, parts, err := sumK.Partials(ctx, team, n, sumArgs{A: a}, engine.Deterministic(1000), engine.Range(r[0], r[1]))
		require.NoError(t, err)
		require.Equal(t, next, first)
		next += len(parts)
		all = append(all, parts...)
	}
	acc := 0.0
	for _, p := range all {
		acc += p
	}
	require.Equal(t, math.Float64bits(whole), math.Float64bits(acc))
}

func TestUnchangedArgsAreNotEncodedAgain(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2))
	ctx := teamtest.Ctx(t)
	args := countArgs{C: &counted{p: "x"}, N: 1}
	before := encodes.Load()
	for range 10 {
		got, err := decodesK.Reduce(ctx, team, 2, args, engine.Max[int64]())
		require.NoError(t, err)
		require.Equal(t, int64(1), got, "workers decoded the same arguments again")
	}
	require.Equal(t, int64(1), encodes.Load()-before, "coordinator encoded the same arguments again")
	// Another kernel in between: the workers keep their decoded value.
	require.NoError(t, noopK.For(ctx, team, 2, struct{}{}))
	got, err := decodesK.Reduce(ctx, team, 2, args, engine.Max[int64]())
	require.NoError(t, err)
	require.Equal(t, int64(1), got)
	// Changed arguments are encoded and decoded once more.
	args.N = 2
	got, err = decodesK.Reduce(ctx, team, 2, args, engine.Max[int64]())
	require.NoError(t, err)
	require.Equal(t, int64(2), got)
	require.Equal(t, int64(2), encodes.Load()-before)
}

func TestBackToBackJobs(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2))
	ctx := teamtest.Ctx(t)
	const maxN = 5000
	a := teamtest.Array[int64](t, maxN)
	d := a.Data()
	r := rand.New(rand.NewPCG(3, 4))
	for job := int64(1); job <= 1000; job++ {
		n := r.IntN(maxN)
		s := schedules[r.IntN(len(schedules))]
		require.NoError(t, stampK.For(ctx, team, n, stampArgs{A: a, Job: job}, s.opt))
		for i := range n {
			if d[i] != job {
				t.Fatalf("job %d (%s, n=%d): element %d = %d", job, s.name, n, i, d[i])
			}
		}
	}
}

func TestConcurrentFor(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		ctx := teamtest.Ctx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					got, err := isumK.Reduce(ctx, team, 1000+g, emptyArgs{}, engine.Sum[int64](), engine.Dynamic(7))
					if err == nil && got != int64(1000+g)*int64(999+g)/2 {
						err = fmt.Errorf("got %d", got)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	})
}

func TestWorkerIndices(t *testing.T) {
	forConfigs(t, func(t *testing.T, team *engine.Team) {
		w := team.Workers()
		a := teamtest.Array[int64](t, w)
		require.NoError(t, workerIDK.For(teamtest.Ctx(t), team, w, fillArgs{A: a}, engine.Static()))
		for i, v := range a.Data()[:w] {
			// Block i goes to participant i unless another finished first
			// and took it.
			require.True(t, v >= 0 && v < int64(w), "block %d ran on participant %d", i, v)
		}
	})
}

func TestClose(t *testing.T) {
	for _, c := range teamtest.Shapes {
		team, err := engine.Start(c.Opts()...)
		require.NoError(t, err)
		require.Equal(t, c.Workers, team.Workers())
		ps := pids(t, team)
		if team.Backend() == engine.Process {
			require.Len(t, ps, c.Workers)
		}
		require.NoError(t, team.Close())
		require.NoError(t, team.Close())
		require.ErrorIs(t, noopK.For(teamtest.Ctx(t), team, 10, struct{}{}), engine.ErrClosed)
		for pid := range ps {
			if pid != os.Getpid() {
				require.Error(t, syscall.Kill(pid, 0), "worker %d still exists after Close", pid)
			}
		}
	}
}

func TestNoTeamInsideWorker(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(1))
	err := nestedK.For(teamtest.Ctx(t), team, 1, struct{}{})
	require.ErrorIs(t, err, engine.ErrInWorker)
}

func TestPin(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2), engine.Pin(true))
	got, err := affinityK.Reduce(teamtest.Ctx(t), team, 2, struct{}{}, engine.Max[int](), engine.Static())
	require.NoError(t, err)
	require.Equal(t, 1, got, "a pinned worker's thread may run on one CPU")
}

func TestDefaultWorkers(t *testing.T) {
	team := teamtest.Team(t, engine.Goroutine)
	require.Equal(t, engine.UsableCPUs(), team.Workers())
}

func TestStartErrors(t *testing.T) {
	_, err := engine.Start(engine.Workers(-1))
	require.ErrorIs(t, err, engine.ErrBadOption)
	_, err = engine.Start(engine.Backend(7))
	require.ErrorIs(t, err, engine.ErrBadOption)
	_, err = isumK.Reduce(teamtest.Ctx(t), nil, 1, emptyArgs{}, engine.Sum[int64]())
	require.Error(t, err)
	require.True(t, errors.Is(engine.ErrNoMain, engine.ErrNoMain))
}

func TestArgsWithReusedPath(t *testing.T) {
	// An anonymous array's path is /proc/<pid>/fd/<fd>: close one and make
	// another, and the new one usually gets the same path. The workers must
	// attach the new segment, not keep writing into the old one.
	team := teamtest.Team(t, engine.Workers(2))
	const n = 1000
	x, err := array.CreateAnon[int64](n)
	require.NoError(t, err)
	require.NoError(t, fillK.For(teamtest.Ctx(t), team, n, fillArgs{A: x}))
	xp := x.Path()
	require.NoError(t, x.Close())
	y := teamtest.Array[int64](t, n)
	if y.Path() != xp {
		t.Logf("path not reused (%s, then %s)", xp, y.Path())
	}
	require.NoError(t, fillK.For(teamtest.Ctx(t), team, n, fillArgs{A: y}))
	for i, v := range y.Data()[:n] {
		require.Equal(t, int64(1), v, "element %d of the new array", i)
	}
}

// TestJobsAfterIdleGaps: a worker that sat idle answers the next job, whether
// it was still spinning, asleep holding its P (also past the runtime's 10 ms
// preemption of such a sleep), or asleep as an ordinary blocked thread (past
// the hold). The test waits until the workers are observably in each state
// (their slots' sleep words), and fails if they never get there.
func TestJobsAfterIdleGaps(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2))
	ctx := teamtest.Ctx(t)
	const n = 4096
	a := teamtest.Array[int64](t, n)
	d := a.Data()
	pids := team.PIDs()
	const (
		awake, held, blocked = 0, 1, 2
	)
	for job, c := range []struct {
		name  string
		state uint32        // wait until every worker is in this state
		more  time.Duration // then this much longer
	}{
		{"back to back", awake, 0},
		{"spinning", awake, 100 * time.Microsecond},
		{"asleep holding its P", held, 0},
		{"asleep holding its P past the runtime's preemption", held, 35 * time.Millisecond},
		{"asleep as a blocked thread", blocked, 0},
		{"back to back again", awake, 0},
	} {
		if c.state != awake {
			awaitSleep(t, team, c.state)
		}
		time.Sleep(c.more)
		require.NoError(t, stampK.For(ctx, team, n, stampArgs{A: a, Job: int64(job + 1)}, engine.Dynamic(64)))
		for i, v := range d {
			if v != int64(job+1) {
				t.Fatalf("%s: element %d = %d, want %d", c.name, i, v, job+1)
			}
		}
	}
	require.Equal(t, pids, team.PIDs(), "no worker was replaced")
}

// awaitSleep waits (at most 20 s) until every worker of team sleeps in
// state, as its slot says.
func awaitSleep(t *testing.T, team *engine.Team, state uint32) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := engine.WorkerSleep(team)
		if !slices.ContainsFunc(got, func(s uint32) bool { return s != state }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers did not reach sleep state %d in 20 s: %v", state, got)
		}
		time.Sleep(time.Millisecond)
	}
}

// The hot path costs no allocation: a For on a process team, with or
// without schedule options, beyond boxing arguments that are not empty in
// an interface value.
func TestForDoesNotAllocate(t *testing.T) {
	for _, c := range teamtest.Shapes[:2] {
		t.Run(c.Name, func(t *testing.T) {
			team := teamtest.Team(t, c.Opts()...)
			ctx := context.Background()
			a := teamtest.Array[int64](t, 1024)
			args := fillArgs{A: a}
			require.NoError(t, fillK.For(ctx, team, 1024, args)) // encodes args once
			for _, opts := range [][]engine.Option{nil, {engine.Dynamic(64)}, {engine.Static(), engine.Range(10, 1000)}} {
				n := testing.AllocsPerRun(200, func() {
					if err := noopK.For(ctx, team, 1024, struct{}{}, opts...); err != nil {
						t.Fatal(err)
					}
				})
				require.Zero(t, n, "allocations per For with %d options", len(opts))
				n = testing.AllocsPerRun(200, func() {
					if err := fillK.For(ctx, team, 1024, args, opts...); err != nil {
						t.Fatal(err)
					}
				})
				require.LessOrEqual(t, n, 1.0, "allocations per For with arguments and %d options", len(opts))
			}
		})
	}
}
