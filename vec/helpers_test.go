package vec_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shmpar/shmpar/vec"
)

// forEachImpl runs f under every implementation this machine has.
func forEachImpl(t *testing.T, f func(t *testing.T, impl string)) {
	t.Helper()
	for _, impl := range vec.Impls() {
		t.Run(impl, func(t *testing.T) {
			defer vec.UseImpl(impl)()
			f(t, impl)
		})
	}
}

// streaming runs f with non-temporal stores forced off and on (threshold
// math.MaxInt and 0), so that both store paths of every size run.
func streaming(f func(nt bool)) {
	old := vec.SetStreamThreshold(math.MaxInt)
	defer vec.SetStreamThreshold(old)
	f(false)
	vec.SetStreamThreshold(0)
	f(true)
}

// same reports whether x and y are the same value: the same bits, or both
// NaN (the payload of a NaN result is not part of vec's contract).
func same[T vec.Float](x, y T) bool {
	if x != x && y != y {
		return true
	}
	return bits(x) == bits(y)
}

func bits[T vec.Float](x T) uint64 {
	if isF64[T]() {
		return math.Float64bits(float64(x))
	}
	return uint64(math.Float32bits(float32(x)))
}

func isF64[T vec.Float]() bool { return vec.Lanes[T]() == 16 }

// fromBits makes a T from the low bits of b.
func fromBits[T vec.Float](b uint64) T {
	if isF64[T]() {
		return T(math.Float64frombits(b))
	}
	return T(math.Float32frombits(uint32(b)))
}

// specials are the values exactness depends on.
func specials[T vec.Float]() []T {
	return []T{
		T(math.NaN()), -T(math.NaN()), T(math.Inf(1)), T(math.Inf(-1)),
		0, T(math.Copysign(0, -1)), 1, -1,
		fromBits[T](1), fromBits[T](1) * -1, // the smallest subnormal
		largestSubnormal[T](), -largestSubnormal[T](),
		T(math.MaxFloat32), -T(math.MaxFloat32),
		T(math.SmallestNonzeroFloat32),
	}
}

// values returns n inputs: mostly ordinary numbers of mixed signs and
// magnitudes, with specials sprinkled in when special is true.
func values[T vec.Float](rng *rand.Rand, n int, special bool) []T {
	sp := specials[T]()
	x := make([]T, n)
	for i := range x {
		switch {
		case special && rng.IntN(6) == 0:
			x[i] = sp[rng.IntN(len(sp))]
		default:
			x[i] = T((rng.Float64() - 0.5) * math.Ldexp(1, rng.IntN(40)-20))
		}
	}
	return x
}

// guard is the bit pattern around every destination: a signalling NaN no
// operation produces.
const guardBits64, guardBits32 = 0x7FF4_DEAD_BEEF_0001, 0x7FA0_BEEF

func guardValue[T vec.Float]() T {
	if isF64[T]() {
		return fromBits[T](guardBits64)
	}
	return fromBits[T](guardBits32)
}

const guardLen = 16

// guarded returns a slice of n elements starting off elements into a
// buffer with guardLen guard elements before and after it.
func guarded[T vec.Float](n, off int) (buf, s []T) {
	buf = make([]T, guardLen+off+n+guardLen)
	for i := range buf {
		buf[i] = guardValue[T]()
	}
	return buf, buf[guardLen+off : guardLen+off+n]
}

// checkGuards fails if anything outside s in buf was written.
func checkGuards[T vec.Float](t testing.TB, what string, buf []T, off, n int) {
	t.Helper()
	g := bits(guardValue[T]())
	for i, v := range buf {
		if (i < guardLen+off || i >= guardLen+off+n) && bits(v) != g {
			t.Fatalf("%s: wrote outside dst: buffer element %d (dst is [%d, %d)) = %v", what, i, guardLen+off, guardLen+off+n, v)
		}
	}
}

// sizes are the lengths every test runs: all small ones (every tail of
// every unroll), then around the vector and block boundaries.
func sizes() []int {
	var ns []int
	for n := 0; n <= 70; n++ {
		ns = append(ns, n)
	}
	return append(ns, 95, 96, 97, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 4096+5)
}

func largestSubnormal[T vec.Float]() T {
	if isF64[T]() {
		return fromBits[T](0x000F_FFFF_FFFF_FFFF)
	}
	return fromBits[T](0x007F_FFFF)
}
