package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/vec"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error { return fmt.Errorf("no child role %q in these tests", role) })
}

// smallSizes keeps every kernel to a few milliseconds under -race.
var smallSizes = map[string]int{
	"copy": 10007, "scale": 10007, "add": 10007, "triad": 10007,
	"sum": 3*1024 + 17, "dot": 5*1024 + 3, // several deterministic chunks, the last short
	"stencil": 67, "logistic": 999, "mandelbrot": 41, "nbody": 97, "empty": 1024,
}

// runCtx bounds a test's runs.
func runCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestEveryKernelVerified runs every kernel, in every implementation this
// build has, on process and goroutine teams of 1 and 2 workers and
// serially: each row must equal the serial reference of its implementation
// (bitwise, or exactly for mandelbrot's counts).
func TestEveryKernelVerified(t *testing.T) {
	kernels := []string{"mandelbrot:static", "triad:guided", "sum:dynamic", "dot:static", "stencil:dynamic"}
	rowsPer := map[string]int{"mandelbrot:static": 1, "triad:guided": 2, "sum:dynamic": 2, "dot:static": 2, "stencil:dynamic": 2}
	for _, k := range Kernels() {
		kernels = append(kernels, k.Name)
		rowsPer[k.Name] = len(k.Impls)
	}
	want := 0
	for _, k := range kernels {
		want += rowsPer[k]
	}
	rs, err := Run(runCtx(t), Config{Kernels: kernels, Sizes: smallSizes, Workers: []int{1, 2}, Reps: 2, Chunk: 7, Impls: Impls()})
	require.NoError(t, err)
	require.Len(t, rs, want*5)
	seen := map[string]int{}
	impls := map[string]bool{}
	for _, r := range rs {
		require.NoError(t, r.Err, "%s %s/%d", r.Kernel, r.Backend, r.Workers)
		require.True(t, r.Verified, "%s %s/%d", r.Kernel, r.Backend, r.Workers)
		require.Len(t, r.Samples, 2)
		require.Positive(t, r.MedianS)
		require.LessOrEqual(t, r.MinS, r.MedianS)
		require.NotNil(t, r.Speedup)
		if r.Class == Bandwidth {
			require.NotNil(t, r.GBps, r.Kernel)
		} else {
			require.Nil(t, r.GBps, r.Kernel)
		}
		seen[fmt.Sprintf("%s/%d", r.Backend, r.Workers)]++
		impls[r.Impl] = true
	}
	for _, pt := range []string{"process/1", "process/2", "goroutine/1", "goroutine/2", "serial/1"} {
		require.Equal(t, want, seen[pt], pt)
	}
	for _, impl := range Impls() {
		require.True(t, impls[impl], "no row of implementation %s", impl)
	}
	require.Equal(t, "mandelbrot:static", rs[0].Kernel)
	require.Equal(t, "mandelbrot", rs[0].Name)
	require.Equal(t, ImplGo, rs[0].Impl)
	require.Equal(t, "static", rs[0].Schedule)
	require.Equal(t, "triad/go:guided", rs[5].Kernel)
	require.Equal(t, "triad/vec:guided", rs[10].Kernel)
	require.Equal(t, ImplVec, rs[10].Impl)
}

// TestImplsInterleaveAndDefault: the default runs the vec implementation
// of kernels that have one and the only implementation of the others; two
// implementations of one kernel, or two schedules named next to each
// other, share its instance and interleave.
func TestImplsInterleaveAndDefault(t *testing.T) {
	var labels []string
	rs, err := Run(runCtx(t), Config{Kernels: []string{"triad", "nbody", "logistic/go"}, Sizes: smallSizes, Workers: []int{2}, Reps: 1,
		Backends: []string{BackendGoroutine}})
	require.NoError(t, err)
	for _, r := range rs {
		require.True(t, r.Verified, "%s: %v", r.Kernel, r.Err)
		labels = append(labels, r.Kernel)
	}
	require.Equal(t, []string{"triad/vec", "nbody", "logistic/go"}, labels)

	var order []string
	rs, err = Run(runCtx(t), Config{Kernels: []string{"sum"}, Impls: []string{ImplVec, ImplGo}, Sizes: smallSizes, Workers: []int{1}, Reps: 2, Warmup: -1,
		Backends: []string{BackendGoroutine, BackendSerial}, Progress: func(_, _ int, what string) { order = append(order, what) }})
	require.NoError(t, err)
	require.Len(t, rs, 4)
	require.Equal(t, []string{"sum/go", "sum/go", "sum/vec", "sum/vec"}, []string{rs[0].Kernel, rs[1].Kernel, rs[2].Kernel, rs[3].Kernel}, "the kernel's order, not -impl's")
	for _, r := range rs {
		require.True(t, r.Verified, "%s %s: %v", r.Kernel, r.Backend, r.Err)
	}
	require.Equal(t, []string{
		"sum/go goroutine/1 rep 1/2", "sum/go serial/1 rep 1/2", "sum/vec goroutine/1 rep 1/2", "sum/vec serial/1 rep 1/2",
		"sum/go serial/1 rep 2/2", "sum/vec goroutine/1 rep 2/2", "sum/vec serial/1 rep 2/2", "sum/go goroutine/1 rep 2/2",
	}, order, "one round over every implementation and team per repetition")

	// Schedules of one kernel named next to each other interleave too.
	order = nil
	rs, err = Run(runCtx(t), Config{Kernels: []string{"mandelbrot:static", "mandelbrot"}, Sizes: smallSizes, Workers: []int{2}, Reps: 2, Warmup: -1,
		Backends: []string{BackendGoroutine}, Progress: func(_, _ int, what string) { order = append(order, what) }})
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, []string{"mandelbrot:static", "mandelbrot"}, []string{rs[0].Kernel, rs[1].Kernel})
	require.Equal(t, []string{"static", "dynamic"}, []string{rs[0].Schedule, rs[1].Schedule})
	require.True(t, rs[0].Verified && rs[1].Verified)
	require.Equal(t, []string{
		"mandelbrot:static goroutine/2 rep 1/2", "mandelbrot goroutine/2 rep 1/2",
		"mandelbrot goroutine/2 rep 2/2", "mandelbrot:static goroutine/2 rep 2/2",
	}, order)
}

// TestTinySizes covers n smaller than the team and n = the smallest a kernel
// takes.
func TestTinySizes(t *testing.T) {
	sizes := map[string]int{"copy": 1, "triad": 3, "sum": 1, "dot": 2, "stencil": 3, "logistic": 1, "mandelbrot": 1, "nbody": 1, "empty": 1}
	var kernels []string
	for k := range sizes {
		kernels = append(kernels, k)
	}
	rs, err := Run(runCtx(t), Config{Kernels: kernels, Sizes: sizes, Workers: []int{2}, Reps: 1, Warmup: -1,
		Backends: []string{BackendProcess, BackendGoroutine}})
	require.NoError(t, err)
	require.Len(t, rs, 2*len(kernels))
	for _, r := range rs {
		require.True(t, r.Verified, "%s %s/%d: %v", r.Kernel, r.Backend, r.Workers, r.Err)
		require.Nil(t, r.Speedup, "no 1-worker row, no speedup")
	}
}

// TestFaultFailsVerification makes kernels compute a wrong answer (one bit
// of one element, one partial sum off by one, one pixel off, an error for
// empty) in the worker processes and goroutines: every row must fail.
func TestFaultFailsVerification(t *testing.T) {
	for _, k := range []string{"triad", "sum", "dot", "stencil", "logistic", "mandelbrot", "empty"} {
		t.Run(k, func(t *testing.T) {
			rs, err := Run(runCtx(t), Config{Kernels: []string{k}, Sizes: smallSizes, Workers: []int{1, 2}, Reps: 1, Fault: k, Impls: Impls()})
			require.NoError(t, err)
			kern, err := Lookup(k)
			require.NoError(t, err)
			require.Len(t, rs, 5*len(kern.Impls))
			for _, r := range rs {
				require.True(t, r.Failed(), "%s %s/%d passed with a wrong answer", r.Kernel, r.Backend, r.Workers)
				require.False(t, r.Verified)
				require.Error(t, r.Err)
				if k == "empty" {
					require.ErrorContains(t, r.Err, "injected fault")
				} else {
					require.ErrorIs(t, r.Err, ErrMismatch)
				}
				require.Nil(t, r.Speedup)
			}
		})
	}
}

// TestPoisonCatchesSkippedWork checks that a kernel that does nothing
// cannot pass on what an earlier row wrote: verification runs on poisoned
// outputs.
func TestPoisonCatchesSkippedWork(t *testing.T) {
	for _, k := range Kernels() {
		if k.Name == "empty" {
			continue
		}
		for _, impl := range k.Impls {
			inst, err := k.setup(smallSizes[k.Name], false)
			require.NoError(t, err)
			require.NoError(t, inst.run(context.Background(), exec{impl: impl}))
			require.NoError(t, inst.verify(), k.Name)
			inst.poison()
			require.ErrorIs(t, inst.verify(), ErrMismatch, k.Name)
			require.NoError(t, inst.close())
		}
	}
}

// TestReductionReferencesDiffer: on the suite's inputs the left-to-right
// and the 16-lane order give different bits, so verifying the vec rows
// against LaneSum (and the go rows against Sum) tells the orders apart: a
// vec reduction checked against the go reference would fail.
func TestReductionReferencesDiffer(t *testing.T) {
	for _, k := range []string{"sum", "dot"} {
		kern, err := Lookup(k)
		require.NoError(t, err)
		inst, err := kern.setup(1<<16+5, false)
		require.NoError(t, err)
		r := inst.(*reduceInst)
		require.NotEqual(t, math.Float64bits(r.reference(ImplGo)), math.Float64bits(r.reference(ImplVec)), k)
		require.NoError(t, r.run(context.Background(), exec{impl: ImplVec}))
		require.NoError(t, r.verify())
		r.impl = ImplGo // the vec result against the go reference
		require.ErrorIs(t, r.verify(), ErrMismatch, k)
		require.NoError(t, inst.close())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"unknown kernel", Config{Kernels: []string{"trIad"}}, ErrUnknownKernel},
		{"bad schedule", Config{Kernels: []string{"triad:fast"}}, ErrConfig},
		{"bad default schedule", Config{Kernels: []string{"triad"}, Schedule: "deterministic"}, ErrConfig},
		{"bad backend", Config{Kernels: []string{"triad"}, Backends: []string{"thread"}}, ErrConfig},
		{"zero workers", Config{Kernels: []string{"triad"}, Workers: []int{0}}, ErrConfig},
		{"negative n", Config{Kernels: []string{"triad"}, N: -1}, ErrConfig},
		{"stencil too small", Config{Kernels: []string{"stencil"}, N: 2}, ErrBadSize},
		{"nbody too large", Config{Kernels: []string{"nbody"}, N: 1 << 21}, ErrBadSize},
		{"bad size name", Config{Kernels: []string{"triad"}, Sizes: map[string]int{"triad2": 5}}, ErrUnknownKernel},
		{"bad fault", Config{Kernels: []string{"triad"}, Fault: "nope"}, ErrUnknownKernel},
		{"negative reps", Config{Kernels: []string{"triad"}, Reps: -1}, ErrConfig},
		{"bad impl", Config{Kernels: []string{"triad"}, Impls: []string{"asm"}}, ErrConfig},
		{"bad impl in name", Config{Kernels: []string{"triad/asm"}}, ErrConfig},
		{"no such impl of the kernel", Config{Kernels: []string{"mandelbrot/vec"}}, ErrConfig},
		{"named kernel without the impl", Config{Kernels: []string{"triad"}, Impls: []string{"simd"}}, ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := Run(context.Background(), c.cfg)
			require.ErrorIs(t, err, c.want)
			require.Nil(t, rs)
		})
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Config{Kernels: []string{"copy"}, Sizes: smallSizes, Workers: []int{1}, Backends: []string{BackendGoroutine}})
	require.ErrorIs(t, err, context.Canceled)
}

func TestParseSpec(t *testing.T) {
	sp, err := ParseSpec("mandelbrot", "")
	require.NoError(t, err)
	require.Equal(t, "mandelbrot", sp.Kernel.Name)
	require.Equal(t, "dynamic", sp.Schedule)
	require.Equal(t, "mandelbrot", sp.Label)
	require.Equal(t, ImplGo, sp.Impl, "its only implementation")
	sp, err = ParseSpec("mandelbrot", "static")
	require.NoError(t, err)
	require.Equal(t, "mandelbrot:static", sp.Label)
	sp, err = ParseSpec("sum", "static") // reductions keep Deterministic
	require.NoError(t, err)
	require.Equal(t, "sum", sp.Label)
	require.Empty(t, sp.Impl, "chosen by Config.Impls")
	sp, err = ParseSpec("sum/vec:guided", "static")
	require.NoError(t, err)
	require.Equal(t, "sum/vec:guided", sp.Label)
	require.Equal(t, ImplVec, sp.Impl)
	sp, err = ParseSpec("triad/go:static", "dynamic")
	require.NoError(t, err)
	require.Equal(t, "triad/go", sp.Label) // its default schedule: no suffix
	_, err = ParseSpec("", "")
	require.ErrorIs(t, err, ErrUnknownKernel)
	_, err = ParseSpec("nbody/vec", "")
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, "nbody has no implementation \"vec\" (it has go)")
	_, err = ParseSpec("triad/simd", "")
	if !slices.Contains(Impls(), ImplSIMD) {
		require.ErrorContains(t, err, "GOEXPERIMENT=simd")
	} else {
		require.ErrorContains(t, err, "triad has no implementation")
	}
}

func TestImpls(t *testing.T) {
	is := Impls()
	require.Equal(t, []string{ImplGo, ImplVec}, is[:2])
	k, err := Lookup("logistic")
	require.NoError(t, err)
	require.Equal(t, is, k.Impls, "logistic has every implementation")
	for _, name := range []string{"mandelbrot", "nbody", "empty"} {
		k, err := Lookup(name)
		require.NoError(t, err)
		require.Equal(t, []string{ImplGo}, k.Impls, name)
	}
}

func TestWorkersUpTo(t *testing.T) {
	require.Equal(t, []int{1}, WorkersUpTo(0))
	require.Equal(t, []int{1}, WorkersUpTo(1))
	require.Equal(t, []int{1, 2}, WorkersUpTo(2))
	require.Equal(t, []int{1, 2, 3}, WorkersUpTo(3))
	require.Equal(t, []int{1, 2, 4, 6}, WorkersUpTo(6))
	require.Equal(t, []int{1, 2, 4, 8}, WorkersUpTo(8))
	require.Equal(t, WorkersUpTo(engine.UsableCPUs()), DefaultWorkers())
}

func TestMedian(t *testing.T) {
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 2, 3}))
	require.Equal(t, 7.0, median([]float64{7}))
}

// TestRowsWriteOnlyTheirRange runs the row and range kernels on a sub-range
// of a buffer with NaN guards around it and checks nothing outside the
// range was written (the gonum guard idea).
func TestRowsWriteOnlyTheirRange(t *testing.T) {
	const n, guard, lo, hi = 9, 16, 3, 6
	check := func(name string, buf []float64, from, to int) {
		t.Helper()
		for i, v := range buf {
			inside := i >= guard+from && i < guard+to
			require.Equal(t, inside, !math.IsNaN(v), "%s: element %d (range [%d, %d))", name, i-guard, from, to)
		}
	}
	nan := func(k int) []float64 {
		b := make([]float64, k+2*guard)
		poisonAll(b)
		return b
	}
	src := make([]float64, n*n)
	fillInput(src, 1, 0)
	buf := nan(n * n)
	StencilRows(buf[guard:guard+n*n], src, n, lo, hi)
	check("stencil", buf, lo*n, hi*n)
	vbuf := nan(n * n)
	jacobiRows(vbuf[guard:guard+n*n], src, n, lo, hi)
	check("stencil/vec", vbuf, lo*n, hi*n)
	for i := guard + lo*n; i < guard+hi*n; i++ {
		require.Equal(t, math.Float64bits(buf[i]), math.Float64bits(vbuf[i]), "jacobiRows gives StencilRows' bits: element %d", i-guard)
	}
	for _, r := range []int{0, n - 1} { // the boundary rows are copied
		jacobiRows(vbuf[guard:guard+n*n], src, n, r, r+1)
		require.Equal(t, src[r*n:(r+1)*n], vbuf[guard+r*n:guard+(r+1)*n])
	}

	in := make([]float64, nbodyIn*n)
	fillInput(in, 2, 1)
	buf = nan(nbodyOut * n)
	NBodyStep(buf[guard:guard+nbodyOut*n], in, n, NBodyDt, NBodyEps2, lo, hi)
	for row := range nbodyOut { // each output row written on [lo, hi) only
		for i := range n {
			v := buf[guard+row*n+i]
			require.Equal(t, i >= lo && i < hi, !math.IsNaN(v), "nbody row %d element %d", row, i)
		}
	}

	img := make([]int32, n*n+2*guard)
	for i := range img {
		img[i] = -7
	}
	MandelbrotRows(img[guard:guard+n*n], n, 50, lo, hi)
	for i, v := range img {
		inside := i >= guard+lo*n && i < guard+hi*n
		require.Equal(t, inside, v != -7, "mandelbrot pixel %d", i-guard)
	}
}

// TestReferenceLoops checks the references against their documented loops
// on small inputs.
func TestReferenceLoops(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	y := []float64{0.5, 0.25, 2, -1}
	dst := make([]float64, 4)
	Copy(dst, x)
	require.Equal(t, x, dst)
	Scale(dst, 2, x)
	require.Equal(t, []float64{2, 4, 6, 8}, dst)
	Add(dst, x, y)
	require.Equal(t, []float64{1.5, 2.25, 5, 3}, dst)
	Triad(dst, x, 2, y)
	require.Equal(t, []float64{2, 2.5, 7, 2}, dst)
	require.Equal(t, 10.0, Sum(x))
	require.Equal(t, 0.5+0.5+6-4.0, Dot(x, y))
	Logistic(dst, []float64{0.5, 0, 1, 0.25}, 2, 3)
	require.Equal(t, []float64{0.5, 0, 0, 0.498046875}, dst)

	// Stencil: a 3×3 grid keeps its boundary; the centre gets the mean.
	g := []float64{0, 1, 0, 2, 9, 4, 0, 3, 0}
	out := make([]float64, 9)
	Stencil(out, g, 3)
	require.Equal(t, []float64{0, 1, 0, 2, 2.5, 4, 0, 3, 0}, out)

	// Mandelbrot: the one pixel of a 1×1 image is c = −2 (the region's
	// corner), whose orbit −2, 2, 2, … stays at |z| = 2: never escapes.
	// On a 5×5 image pixel (4, 4) is c = 0 + 1i, whose orbit is periodic
	// (i, −1+i, −i, −1+i, …); pixel (0, 4) is c = 0: z stays 0.
	img := make([]int32, 1)
	MandelbrotRows(img, 1, 100, 0, 1)
	require.Equal(t, int32(100), img[0], "c = −2 is in the set")
	img = make([]int32, 25)
	MandelbrotRows(img, 5, 100, 0, 5)
	require.Equal(t, int32(100), img[4*5+4], "c = i is in the set")
	require.Equal(t, int32(100), img[0*5+4], "c = 0 is in the set")
	require.Less(t, img[4*5+0], int32(100), "c = −2 + i escapes")
}

// TestLaneReferencesMatchVec checks the plain-Go references of the vec
// reductions against vec.Sum and vec.Dot bit for bit, for every length up
// to a few hundred at several offsets (so every tail and every lane), and
// that the lane order is not the left-to-right one on such data.
func TestLaneReferencesMatchVec(t *testing.T) {
	require.Equal(t, vec.Lanes[float64](), vecLanes)
	x, y := make([]float64, 700), make([]float64, 700)
	fillInput(x, 11, -0.5)
	fillInput(y, 12, -0.5)
	for i := range x { // magnitudes over many binades: every order rounds differently
		x[i] = math.Ldexp(x[i], i%40-20)
	}
	differs := 0
	for lo := range 5 {
		for hi := lo; hi <= len(x); hi += 1 + hi/100 {
			require.Equal(t, math.Float64bits(vec.Sum(x[lo:hi])), math.Float64bits(LaneSumRange(x, lo, hi)), "sum [%d, %d)", lo, hi)
			require.Equal(t, math.Float64bits(vec.Dot(x[lo:hi], y[lo:hi])), math.Float64bits(LaneDotRange(x, y, lo, hi)), "dot [%d, %d)", lo, hi)
			if LaneSumRange(x, lo, hi) != SumRange(x, lo, hi) {
				differs++
			}
		}
	}
	require.Positive(t, differs, "the lane order is the left-to-right order on this data: the test tells nothing")
	x = make([]float64, 5*1024+3)
	fillInput(x, 13, -0.5)
	want := 0.0
	for lo := 0; lo < len(x); lo += engine.Grain(len(x)) {
		want += vec.Sum(x[lo:min(lo+engine.Grain(len(x)), len(x))])
	}
	require.Equal(t, math.Float64bits(want), math.Float64bits(LaneSum(x)), "LaneSum: vec.Sum per deterministic chunk")
}

func TestChunkedMatchesEngineGrain(t *testing.T) {
	for _, n := range []int{1, 1023, 1024, 1025, 1 << 20, 1<<20 + 1, 3 << 20} {
		calls, covered, prevHi := 0, 0, 0
		chunked(n, func(lo, hi int) float64 {
			require.Equal(t, prevHi, lo)
			require.Zero(t, lo%engine.Grain(n))
			prevHi = hi
			covered += hi - lo
			calls++
			return 0
		})
		require.Equal(t, n, covered)
		require.LessOrEqual(t, calls, 1024)
	}
}

func TestLookup(t *testing.T) {
	k, err := Lookup("triad")
	require.NoError(t, err)
	b, ok := k.BytesPerRep(100)
	require.True(t, ok)
	require.Equal(t, 2400.0, b)
	k, err = Lookup("stencil")
	require.NoError(t, err)
	b, _ = k.BytesPerRep(10)
	require.Equal(t, 16.0*100*StencilSweeps, b)
	k, err = Lookup("logistic")
	require.NoError(t, err)
	_, ok = k.BytesPerRep(100)
	require.False(t, ok)
	_, err = Lookup("nope")
	require.True(t, errors.Is(err, ErrUnknownKernel))
	require.Len(t, Kernels(), 11)
}

// TestSameKernelNewArrays runs one kernel twice in a row on new arrays (a
// memfd reuses the closed one's descriptor number, so its /proc path is the
// same): the second instance must not be computed into the first one's
// memory by a worker that kept the old arguments.
func TestSameKernelNewArrays(t *testing.T) {
	rs, err := Run(runCtx(t), Config{Kernels: []string{"mandelbrot", "mandelbrot:static", "triad", "triad:dynamic"},
		Sizes: smallSizes, Workers: []int{2}, Reps: 1, Backends: []string{BackendProcess}})
	require.NoError(t, err)
	for _, r := range rs {
		require.True(t, r.Verified, "%s %s/%d: %v", r.Kernel, r.Backend, r.Workers, r.Err)
	}
}
