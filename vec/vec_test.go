package vec_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/shmpar/shmpar/vec"
)

// offsets are the start offsets, in elements, of the destinations: every
// position in a 64-byte line, so every head of the streaming path runs.
func offsets[T vec.Float]() int { return vec.Lanes[T]() / 2 }

// scalar picks the scalar argument of a call: mostly ordinary, sometimes a
// special value, and for the logistic map mostly a parameter in (0, 4].
func scalar[T vec.Float](rng *rand.Rand, op string) T {
	if rng.IntN(4) == 0 {
		sp := specials[T]()
		return sp[rng.IntN(len(sp))]
	}
	if op == "Logistic" {
		return T(4 * rng.Float64())
	}
	return values[T](rng, 1, false)[0]
}

func TestElementwiseExact(t *testing.T) {
	t.Run("float64", testElementwise[float64])
	t.Run("float32", testElementwise[float32])
}

// testElementwise checks every operation that writes a destination against
// its reference loop, bit for bit, for every implementation, length, start
// offset and both store paths, with guards around the destination.
func testElementwise[T vec.Float](t *testing.T) {
	forEachImpl(t, func(t *testing.T, impl string) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, op := range ewOps[T]() {
			for _, n := range sizes() {
				for off := range offsets[T]() {
					in := make([][]T, op.nin)
					for k := range in {
						in[k] = values[T](rng, n, true)
					}
					if op.name == "Logistic" && rng.IntN(2) == 0 {
						in[0] = unitValues[T](rng, n)
					}
					s := scalar[T](rng, op.name)
					want := make([]T, n)
					op.ref(want, in, s)
					streaming(func(nt bool) {
						buf, dst := guarded[T](n, off)
						op.run(dst, in, s)
						what := op.name
						checkGuards(t, what, buf, off, n)
						for i := range want {
							if !same(dst[i], want[i]) {
								t.Fatalf("%s n=%d off=%d nt=%v s=%v: dst[%d] = %v (%#x), want %v (%#x)",
									op.name, n, off, nt, s, i, dst[i], bits(dst[i]), want[i], bits(want[i]))
							}
						}
					})
				}
			}
		}
	})
}

// unitValues returns n values in (0, 1): the logistic map's domain.
func unitValues[T vec.Float](rng *rand.Rand, n int) []T {
	x := make([]T, n)
	for i := range x {
		x[i] = T(0.01 + 0.98*rng.Float64())
	}
	return x
}

func TestAliasedDestination(t *testing.T) {
	t.Run("float64", testAlias[float64])
	t.Run("float32", testAlias[float32])
}

// testAlias runs each operation whose doc allows it in place: dst is input
// k, and for two inputs also both at once.
func testAlias[T vec.Float](t *testing.T) {
	forEachImpl(t, func(t *testing.T, impl string) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, op := range ewOps[T]() {
			if !op.alias {
				continue
			}
			for _, n := range []int{1, 7, 8, 9, 33, 64, 100, 1000, 1029} {
				in := make([][]T, op.nin)
				for k := range in {
					in[k] = values[T](rng, n, true)
				}
				s := scalar[T](rng, op.name)
				cases := [][]int{}
				for k := range in {
					cases = append(cases, []int{k})
				}
				if op.nin == 2 {
					cases = append(cases, []int{0, 1})
				}
				for _, ks := range cases {
					args := append([][]T(nil), in...)
					for _, k := range ks {
						args[k] = in[ks[0]]
					}
					want := make([]T, n)
					op.ref(want, args, s)
					streaming(func(nt bool) {
						dst := append([]T(nil), in[ks[0]]...)
						for _, k := range ks {
							args[k] = dst
						}
						op.run(dst, args, s)
						for i := range want {
							if !same(dst[i], want[i]) {
								t.Fatalf("%s n=%d in place of inputs %v nt=%v: dst[%d] = %v, want %v", op.name, n, ks, nt, i, dst[i], want[i])
							}
						}
					})
				}
			}
		}
	})
}

func TestReductionsExact(t *testing.T) {
	t.Run("float64", testReductions[float64])
	t.Run("float32", testReductions[float32])
}

// testReductions checks Sum, Dot, Min and Max against their reference
// loops, bit for bit, for every implementation, length and start offset;
// with and without special values (with them, most sums are NaN).
func testReductions[T vec.Float](t *testing.T) {
	forEachImpl(t, func(t *testing.T, impl string) {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, op := range redOps[T]() {
			for _, n := range sizes() {
				for off := range offsets[T]() {
					in := make([][]T, op.nin)
					special := rng.IntN(3) == 0
					for k := range in {
						buf, s := guarded[T](n, off)
						copy(s, values[T](rng, n, special))
						in[k] = s
						_ = buf
					}
					got, want := op.run(in), op.ref(in)
					if !same(got, want) {
						t.Fatalf("%s n=%d off=%d: got %v (%#x), want %v (%#x)", op.name, n, off, got, bits(got), want, bits(want))
					}
				}
			}
		}
	})
}

// TestMinMaxSpecials checks the cases where math.Min and math.Max differ
// from a plain comparison, at every lane position.
func TestMinMaxSpecials(t *testing.T) {
	negZero := math.Copysign(0, -1)
	forEachImpl(t, func(t *testing.T, impl string) {
		for _, n := range []int{1, 2, 5, 8, 16, 31, 32, 33, 100} {
			for pos := range n {
				x := make([]float64, n)
				for i := range x {
					x[i] = float64(i%5) + 1
				}
				x[pos] = negZero
				if v := vec.Min(x); math.Float64bits(v) != math.Float64bits(negZero) {
					t.Fatalf("Min with -0 at %d of %d = %v, want -0", pos, n, v)
				}
				for i := range x {
					x[i] = -float64(i%5) - 1
				}
				x[pos] = 0
				x[(pos+1)%n] = negZero
				if v := vec.Max(x); math.Float64bits(v) != 0 && n > 1 {
					t.Fatalf("Max with +0 at %d and -0 of %d = %v, want +0", pos, n, v)
				}
				x[pos] = math.NaN()
				if v := vec.Min(x); !math.IsNaN(v) {
					t.Fatalf("Min with NaN at %d of %d = %v", pos, n, v)
				}
				if v := vec.Max(x); !math.IsNaN(v) {
					t.Fatalf("Max with NaN at %d of %d = %v", pos, n, v)
				}
				y := make([]float32, n)
				y[pos] = float32(math.NaN())
				if v := vec.Max(y); v == v {
					t.Fatalf("float32 Max with NaN at %d of %d = %v", pos, n, v)
				}
			}
		}
		if v := vec.Min([]float64{}); !math.IsInf(v, 1) {
			t.Errorf("Min of nothing = %v, want +Inf", v)
		}
		if v := vec.Max([]float32(nil)); !math.IsInf(float64(v), -1) {
			t.Errorf("Max of nothing = %v, want -Inf", v)
		}
	})
}

// TestSumOrder checks that Sum is the fixed-lane sum and not the
// left-to-right one, on an input where the two differ.
func TestSumOrder(t *testing.T) {
	x := make([]float64, 32)
	x[0], x[1], x[16] = 1, 0x1p53, -0x1p53 // lane 0 gets 1 and -2^53, lane 1 gets 2^53
	forEachImpl(t, func(t *testing.T, impl string) {
		// Lanes: acc[0] = 1 + -2^53 = -2^53+1 (exact), acc[1] = 2^53, and
		// the tree adds them: 1. Left to right, (1 + 2^53) rounds to 2^53 and
		// the sum is 0.
		if got := vec.Sum(x); got != 1 {
			t.Errorf("Sum = %v, want 1 (the lanes' order)", got)
		}
	})
}

type celsius float64

func TestDefinedType(t *testing.T) {
	a, b := []celsius{1, 2, 3}, []celsius{10, 20, 30}
	d := make([]celsius, 3)
	vec.Add(d, a, b)
	if d[0] != 11 || d[1] != 22 || d[2] != 33 {
		t.Errorf("Add on a defined type = %v", d)
	}
	if s := vec.Sum(b); s != 60 {
		t.Errorf("Sum on a defined type = %v", s)
	}
}

func TestLogisticSteps(t *testing.T) {
	forEachImpl(t, func(t *testing.T, impl string) {
		x := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.75}
		for _, steps := range []int{-3, 0, 1, 200} {
			d := make([]float64, len(x))
			vec.Logistic(d, x, 3.9, steps)
			for i, v := range x {
				for range steps {
					v = 3.9 * v * (1 - v)
				}
				if math.Float64bits(d[i]) != math.Float64bits(v) {
					t.Fatalf("steps=%d: dst[%d] = %v, want %v", steps, i, d[i], v)
				}
			}
		}
	})
}

// mustPanic fails unless f panics with a message that starts with prefix.
func mustPanic(t *testing.T, prefix string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		s, _ := r.(string)
		if !strings.HasPrefix(s, prefix) {
			t.Errorf("panic %v, want one starting with %q", r, prefix)
		}
	}()
	f()
}

func TestBadArguments(t *testing.T) {
	a, b := make([]float64, 8), make([]float64, 9)
	buf := make([]float64, 20)
	mustPanic(t, "vec: Copy: slice lengths differ", func() { vec.Copy(a, b) })
	mustPanic(t, "vec: Scale: slice lengths differ", func() { vec.Scale(a, 2, b) })
	mustPanic(t, "vec: Add: slice lengths differ", func() { vec.Add(a, a, b) })
	mustPanic(t, "vec: Sub: slice lengths differ", func() { vec.Sub(b, a, b) })
	mustPanic(t, "vec: Mul: slice lengths differ", func() { vec.Mul(a, b, a) })
	mustPanic(t, "vec: Div: slice lengths differ", func() { vec.Div(a, b, b) })
	mustPanic(t, "vec: AddScaled: slice lengths differ", func() { vec.AddScaled(a, a, 2, b) })
	mustPanic(t, "vec: Dot: slice lengths differ", func() { vec.Dot(a, b) })
	mustPanic(t, "vec: Logistic: slice lengths differ", func() { vec.Logistic(a, b, 3, 1) })
	mustPanic(t, "vec: JacobiRow: slice lengths differ", func() { vec.JacobiRow(a, a[:7], a, a) })
	mustPanic(t, "vec: DiffuseRow: slice lengths differ", func() { vec.DiffuseRow(a, b, b, b, 0.2) })

	mustPanic(t, "vec: Add: dst overlaps", func() { vec.Add(buf[1:9], buf[0:8], a) })
	mustPanic(t, "vec: AddScaled: dst overlaps", func() { vec.AddScaled(buf[0:8], a, 2, buf[7:15]) })
	mustPanic(t, "vec: Scale: dst overlaps", func() { vec.Scale(buf[4:12], 2, buf[0:8]) })
	mustPanic(t, "vec: Logistic: dst overlaps", func() { vec.Logistic(buf[0:8], buf[1:9], 3, 1) })
	mustPanic(t, "vec: JacobiRow: dst overlaps", func() { vec.JacobiRow(buf[0:8], buf[0:8], a, a) })
	mustPanic(t, "vec: DiffuseRow: dst overlaps", func() { vec.DiffuseRow(buf[0:8], a, buf[4:12], a, 0.2) })
}

// TestCopyOverlap checks that Copy moves overlapping slices as the
// built-in copy does, in both directions.
func TestCopyOverlap(t *testing.T) {
	forEachImpl(t, func(t *testing.T, impl string) {
		for _, shift := range []int{-5, -1, 1, 3, 64} {
			buf, want := make([]float64, 300), make([]float64, 300)
			for i := range buf {
				buf[i], want[i] = float64(i), float64(i)
			}
			lo, hi := 70, 70+shift
			copy(want[hi:hi+100], want[lo:lo+100])
			vec.Copy(buf[hi:hi+100], buf[lo:lo+100])
			for i := range buf {
				if buf[i] != want[i] {
					t.Fatalf("shift %d: buf[%d] = %v, want %v", shift, i, buf[i], want[i])
				}
			}
		}
	})
}

func TestStreamThreshold(t *testing.T) {
	old := vec.SetStreamThreshold(12345)
	defer vec.SetStreamThreshold(old)
	if old != vec.DefaultStreamThreshold {
		t.Errorf("initial threshold %d, want DefaultStreamThreshold %d", old, vec.DefaultStreamThreshold)
	}
	if got := vec.StreamThreshold(); got != 12345 {
		t.Errorf("StreamThreshold() = %d after SetStreamThreshold(12345)", got)
	}
	vec.SetStreamThreshold(-1)
	if got := vec.StreamThreshold(); got != 0 {
		t.Errorf("StreamThreshold() = %d after SetStreamThreshold(-1), want 0", got)
	}
}

func TestImpl(t *testing.T) {
	impls := vec.Impls()
	if impls[len(impls)-1] != "go" {
		t.Errorf("Impls() = %v: the pure-Go kernels must always be there", impls)
	}
	if vec.Impl() != impls[0] {
		t.Errorf("Impl() = %q, want the best, %q", vec.Impl(), impls[0])
	}
	for _, impl := range impls {
		restore := vec.UseImpl(impl)
		if vec.Impl() != impl {
			t.Errorf("after UseImpl(%q), Impl() = %q", impl, vec.Impl())
		}
		restore()
	}
}

// TestMisalignedElements runs the operations on float64 and float32 slices
// whose elements are not aligned to their size (made with unsafe from
// bytes, as a view into a packed file could be): the streaming path cannot
// align such a destination and must take the plain one, with the same
// results.
func TestMisalignedElements(t *testing.T) {
	t.Run("float64", testMisaligned[float64])
	t.Run("float32", testMisaligned[float32])
}

func testMisaligned[T vec.Float](t *testing.T) {
	size := int(unsafe.Sizeof(T(0)))
	forEachImpl(t, func(t *testing.T, impl string) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, op := range ewOps[T]() {
			for _, n := range []int{1, 9, 100, 1029} {
				for shift := 1; shift < size; shift++ {
					in := make([][]T, op.nin)
					for k := range in {
						in[k] = values[T](rng, n, true)
					}
					s := scalar[T](rng, op.name)
					want := make([]T, n)
					op.ref(want, in, s)
					raw := make([]byte, (n+2)*size)
					dst := unsafe.Slice((*T)(unsafe.Pointer(&raw[shift])), n)
					streaming(func(nt bool) {
						op.run(dst, in, s)
						for i := range want {
							if !same(dst[i], want[i]) {
								t.Fatalf("%s n=%d dst shifted %d bytes nt=%v: dst[%d] = %v, want %v", op.name, n, shift, nt, i, dst[i], want[i])
							}
						}
					})
				}
			}
		}
	})
}
