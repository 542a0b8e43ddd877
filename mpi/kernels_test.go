package mpi

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi/exact"
)

// The kernels and data of the tests of Reduce and For, in both builds: the
// single-rank tests run them on a team in the test process, the mpirun
// tests on every rank's team.

// sumData is global data for the reproducible sums: values over many
// magnitudes, both signs, that cancel, so a float64 loop's result depends
// on the order.
func sumData(i int) float64 {
	h := mix(uint64(i))
	m := float64(h>>11) / (1 << 53)
	x := math.Ldexp(m, int(h%120)-60)
	if h&(1<<7) != 0 {
		x = -x
	}
	return x
}

// mix is a 64-bit hash (splitmix64's finaliser).
func mix(x uint64) uint64 {
	h := x*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 32
	return h
}

// redArgs are the arguments of the test reductions. Marks put special
// values at given indices (a NaN with a payload, -0, ±Inf); Fail makes the
// chunk holding index Fail return an error, and Panic the one holding
// Panic panic, both only in a worker process (not in Coord, the
// coordinator).
type redArgs struct {
	Marks []mark
	Fail  int
	Panic int
	Coord int
}

type mark struct {
	I    int
	Bits uint64
}

// noFault is redArgs with no failure.
func noFault(marks ...mark) redArgs { return redArgs{Marks: marks, Fail: -1, Panic: -1} }

// fault fails the chunk holding index i, in a worker process.
func (a redArgs) fault(ctx *engine.Ctx, lo, hi int) error {
	if ctx == nil || os.Getpid() == a.Coord {
		return nil
	}
	if a.Panic >= lo && a.Panic < hi {
		panic(fmt.Sprintf("test panic in the chunk [%d, %d)", lo, hi))
	}
	if a.Fail >= lo && a.Fail < hi {
		return fmt.Errorf("test failure in the chunk [%d, %d)", lo, hi)
	}
	return nil
}

// value returns element i: sumData, or a mark's value.
func (a redArgs) value(i int) float64 {
	for _, m := range a.Marks {
		if m.I == i {
			return math.Float64frombits(m.Bits)
		}
	}
	return sumData(i)
}

// fsum is the float64 sum of the elements of [lo, hi), left to right.
func fsum(ctx *engine.Ctx, a redArgs, lo, hi int) (float64, error) {
	if err := a.fault(ctx, lo, hi); err != nil {
		return 0, err
	}
	s := 0.0
	for i := lo; i < hi; i++ {
		s += a.value(i)
	}
	return s, nil
}

// f32sum is the float32 sum of the elements, each rounded to float32.
func f32sum(ctx *engine.Ctx, a redArgs, lo, hi int) (float32, error) {
	if err := a.fault(ctx, lo, hi); err != nil {
		return 0, err
	}
	var s float32
	for i := lo; i < hi; i++ {
		s += float32(a.value(i) * 1e6)
	}
	return s, nil
}

// fmin is the smallest element with engine.Min's rules, found by a plain
// loop over [lo, hi).
func fmin(ctx *engine.Ctx, a redArgs, lo, hi int) (float64, error) {
	if err := a.fault(ctx, lo, hi); err != nil {
		return 0, err
	}
	m := math.Inf(1)
	for i := lo; i < hi; i++ {
		m = minRule(m, a.value(i))
	}
	return m, nil
}

// fmax is the largest element with engine.Max's rules.
func fmax(ctx *engine.Ctx, a redArgs, lo, hi int) (float64, error) {
	if err := a.fault(ctx, lo, hi); err != nil {
		return 0, err
	}
	m := math.Inf(-1)
	for i := lo; i < hi; i++ {
		m = maxRule(m, a.value(i))
	}
	return m, nil
}

// f32max is fmax over the elements rounded to float32.
func f32max(ctx *engine.Ctx, a redArgs, lo, hi int) (float32, error) {
	m, err := fmax(ctx, a, lo, hi)
	return float32(m), err
}

// minRule and maxRule are engine.Min's and engine.Max's step on floats, as
// documented: -Inf (+Inf) wins, then the first NaN, and -0 < +0.
func minRule(a, b float64) float64 {
	switch {
	case math.IsInf(a, -1):
		return a
	case math.IsInf(b, -1):
		return b
	case a != a:
		return a
	case b != b, b < a:
		return b
	case a == 0 && b == 0 && math.Signbit(b):
		return b
	}
	return a
}

func maxRule(a, b float64) float64 {
	switch {
	case math.IsInf(a, 1):
		return a
	case math.IsInf(b, 1):
		return b
	case a != a:
		return a
	case b != b, b > a:
		return b
	case a == 0 && b == 0 && !math.Signbit(b):
		return b
	}
	return a
}

// isum adds large int64 values that overflow (wrapping as Go's do).
func isum(ctx *engine.Ctx, a redArgs, lo, hi int) (int64, error) {
	if err := a.fault(ctx, lo, hi); err != nil {
		return 0, err
	}
	var s int64
	for i := lo; i < hi; i++ {
		s += int64(mix(uint64(i)))
	}
	return s, nil
}

// i8sum adds int8 values, wrapping.
func i8sum(ctx *engine.Ctx, a redArgs, lo, hi int) (int8, error) {
	var s int8
	for i := lo; i < hi; i++ {
		s += int8(mix(uint64(i)))
	}
	return s, nil
}

// umax and imin are extremes of integers, some of them above 2^63 (as
// uint64) or negative.
func umax(ctx *engine.Ctx, a redArgs, lo, hi int) (uint64, error) {
	var m uint64
	for i := lo; i < hi; i++ {
		m = max(m, mix(uint64(i))>>1|uint64(i%3)<<63)
	}
	return m, nil
}

func imin(ctx *engine.Ctx, a redArgs, lo, hi int) (int32, error) {
	m := int32(math.MaxInt32)
	for i := lo; i < hi; i++ {
		m = min(m, int32(mix(uint64(i))>>3))
	}
	return m, nil
}

var (
	kFsum   = engine.RegisterReduce("mpi-test/fsum", fsum, engine.Idempotent())
	kF32sum = engine.RegisterReduce("mpi-test/f32sum", f32sum, engine.Idempotent())
	kFmin   = engine.RegisterReduce("mpi-test/fmin", fmin, engine.Idempotent())
	kFmax   = engine.RegisterReduce("mpi-test/fmax", fmax, engine.Idempotent())
	kF32max = engine.RegisterReduce("mpi-test/f32max", f32max, engine.Idempotent())
	kIsum   = engine.RegisterReduce("mpi-test/isum", isum, engine.Idempotent())
	kI8sum  = engine.RegisterReduce("mpi-test/i8sum", i8sum, engine.Idempotent())
	kUmax   = engine.RegisterReduce("mpi-test/umax", umax, engine.Idempotent())
	kImin   = engine.RegisterReduce("mpi-test/imin", imin, engine.Idempotent())
)

// fillArgs are the arguments of kFill.
type fillArgs struct {
	X *array.Array[float64]
	F redArgs // failures
}

// fillValue is what kFill writes at index i.
func fillValue(i int) float64 { return float64(i) + 0.5 }

// kFill writes fillValue(i) at every index i of its range.
var kFill = engine.Register("mpi-test/fill", func(ctx *engine.Ctx, a fillArgs, lo, hi int) error {
	if err := a.F.fault(ctx, lo, hi); err != nil {
		return err
	}
	x := a.X.Data()
	for i := lo; i < hi; i++ {
		x[i] = fillValue(i)
	}
	return nil
}, engine.Idempotent())

// filled checks that x holds fillValue exactly in [lo, hi) and zeros
// elsewhere.
func filled(x []float64, lo, hi int) error {
	for i, v := range x {
		want := 0.0
		if i >= lo && i < hi {
			want = fillValue(i)
		}
		if v != want {
			return fmt.Errorf("x[%d] = %v, want %v (share [%d, %d))", i, v, want, lo, hi)
		}
	}
	return nil
}

// reductions runs every test reduction through Reduce on c and t and
// returns each result's bits by name, the result of one rank.
func reductions(ctx context.Context, c *Comm, t *engine.Team, n int) (map[string]string, error) {
	out := map[string]string{}
	bits := func(name string, v uint64, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[name] = fmt.Sprintf("%016x", v)
		return nil
	}
	// Special values in the second half of [0, n), past rank 0's share
	// at two ranks or more: two NaNs with their own payloads, a -0 that is
	// the smallest non-negative, ±Inf.
	nan1, nan2 := mark{n * 3 / 5, 0x7ff8_0000_0000_1234}, mark{n * 4 / 5, 0xfff8_0000_0000_0042}
	zeros := []mark{{n / 2, 0x8000_0000_0000_0000}, {n/2 + 1, 0}}
	for _, r := range []struct {
		name string
		k    *engine.ReduceKernel[redArgs, float64]
		op   Op
		args redArgs
	}{
		{"fsum", kFsum, Sum, noFault()},
		{"fsum/inf", kFsum, Sum, noFault(mark{n / 3, math.Float64bits(math.Inf(-1))})},
		{"fmin", kFmin, Min, noFault()},
		{"fmin/nan", kFmin, Min, noFault(nan1, nan2)},
		{"fmin/nan,-inf", kFmin, Min, noFault(nan1, mark{n - 1, math.Float64bits(math.Inf(-1))})},
		{"fmax", kFmax, Max, noFault()},
		{"fmax/nan", kFmax, Max, noFault(nan2, nan1)},
		{"fmax/zeros", kFmax, Max, noFault(append(zeros, mark{0, math.Float64bits(-1)})...)},
	} {
		v, err := Reduce(ctx, c, t, r.k, n, r.args, r.op)
		if err := bits(r.name, math.Float64bits(v), err); err != nil {
			return nil, err
		}
	}
	f32, err := Reduce(ctx, c, t, kF32sum, n, noFault(), Sum)
	if err := bits("f32sum", uint64(math.Float32bits(f32)), err); err != nil {
		return nil, err
	}
	f32, err = Reduce(ctx, c, t, kF32max, n, noFault(nan1), Max)
	if err := bits("f32max/nan", uint64(math.Float32bits(f32)), err); err != nil {
		return nil, err
	}
	i64, err := Reduce(ctx, c, t, kIsum, n, noFault(), Sum)
	if err := bits("isum", uint64(i64), err); err != nil {
		return nil, err
	}
	i8, err := Reduce(ctx, c, t, kI8sum, n, noFault(), Sum)
	if err := bits("i8sum", uint64(uint8(i8)), err); err != nil {
		return nil, err
	}
	u, err := Reduce(ctx, c, t, kUmax, n, noFault(), Max)
	if err := bits("umax", u, err); err != nil {
		return nil, err
	}
	i32, err := Reduce(ctx, c, t, kImin, n, noFault(), Min)
	if err := bits("imin", uint64(uint32(i32)), err); err != nil {
		return nil, err
	}
	return out, nil
}

// serialReductions computes what reductions must return, serially: the
// documented references of Reduce. Float sums are exact.Sum of the
// partials at Grain(n), each computed by one call of the kernel; the
// others are engine's own fold in chunk order (a one-participant goroutine
// team with Deterministic(Grain(n))).
func serialReductions(t *testing.T, n int) map[string]string {
	t.Helper()
	team, err := engine.Start(engine.Workers(1), engine.Goroutine)
	if err != nil {
		t.Fatal(err)
	}
	defer team.Close()
	ctx := context.Background()
	g := Grain(n)
	exactSum := func(f func(*engine.Ctx, redArgs, int, int) (float64, error), a redArgs) float64 {
		var parts []float64
		for lo := 0; lo < n; lo += g {
			p, err := f(nil, a, lo, min(n, lo+g))
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		return exact.Sum(parts)
	}
	fold := func(k *engine.ReduceKernel[redArgs, float64], a redArgs, op engine.Op[float64]) float64 {
		v, err := k.Reduce(ctx, team, n, a, op, engine.Deterministic(g))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	nan1, nan2 := mark{n * 3 / 5, 0x7ff8_0000_0000_1234}, mark{n * 4 / 5, 0xfff8_0000_0000_0042}
	zeros := []mark{{n / 2, 0x8000_0000_0000_0000}, {n/2 + 1, 0}}
	h := func(x float64) string { return fmt.Sprintf("%016x", math.Float64bits(x)) }
	out := map[string]string{
		"fsum":          h(exactSum(fsum, noFault())),
		"fsum/inf":      h(exactSum(fsum, noFault(mark{n / 3, math.Float64bits(math.Inf(-1))}))),
		"fmin":          h(fold(kFmin, noFault(), engine.Min[float64]())),
		"fmin/nan":      h(fold(kFmin, noFault(nan1, nan2), engine.Min[float64]())),
		"fmin/nan,-inf": h(fold(kFmin, noFault(nan1, mark{n - 1, math.Float64bits(math.Inf(-1))}), engine.Min[float64]())),
		"fmax":          h(fold(kFmax, noFault(), engine.Max[float64]())),
		"fmax/nan":      h(fold(kFmax, noFault(nan2, nan1), engine.Max[float64]())),
		"fmax/zeros":    h(fold(kFmax, noFault(append(zeros, mark{0, math.Float64bits(-1)})...), engine.Max[float64]())),
	}
	var acc exact.Acc
	for lo := 0; lo < n; lo += g {
		p, _ := f32sum(nil, noFault(), lo, min(n, lo+g))
		acc.Add(float64(p))
	}
	out["f32sum"] = fmt.Sprintf("%016x", math.Float32bits(acc.Float32()))
	f32, err := kF32max.Reduce(ctx, team, n, noFault(nan1), engine.Max[float32](), engine.Deterministic(g))
	must(t, err)
	out["f32max/nan"] = fmt.Sprintf("%016x", math.Float32bits(f32))
	i64, err := kIsum.Reduce(ctx, team, n, noFault(), engine.Sum[int64](), engine.Deterministic(g))
	must(t, err)
	out["isum"] = fmt.Sprintf("%016x", uint64(i64))
	i8, err := kI8sum.Reduce(ctx, team, n, noFault(), engine.Sum[int8](), engine.Deterministic(g))
	must(t, err)
	out["i8sum"] = fmt.Sprintf("%016x", uint8(i8))
	u, err := kUmax.Reduce(ctx, team, n, noFault(), engine.Max[uint64](), engine.Deterministic(g))
	must(t, err)
	out["umax"] = fmt.Sprintf("%016x", u)
	i32, err := kImin.Reduce(ctx, team, n, noFault(), engine.Min[int32](), engine.Deterministic(g))
	must(t, err)
	out["imin"] = fmt.Sprintf("%016x", uint32(i32))
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
