package exact

import (
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// bigSum returns the correctly rounded sum of finite xs, computed with
// math/big at a precision that makes every addition exact, and the exact sum.
func bigSum(xs []float64) (float64, float32, *big.Float) {
	s := new(big.Float).SetPrec(4096)
	for _, x := range xs {
		s.Add(s, new(big.Float).SetFloat64(x))
	}
	f64, _ := s.Float64()
	f32, _ := s.Float32()
	return f64, f32, s
}

// ieeeRef returns what Float64 must return for xs, with math/big for the
// finite part and IEEE 754's rules for the rest.
func ieeeRef(xs []float64) float64 {
	var nan, pinf, ninf, nonNegZero, negZero bool
	var finite []float64
	for _, x := range xs {
		switch {
		case math.IsNaN(x):
			nan = true
		case math.IsInf(x, 1):
			pinf = true
		case math.IsInf(x, -1):
			ninf = true
		default:
			finite = append(finite, x)
			if x == 0 && math.Signbit(x) {
				negZero = true
			} else {
				nonNegZero = true
			}
		}
	}
	switch {
	case nan || pinf && ninf:
		return math.NaN()
	case pinf:
		return math.Inf(1)
	case ninf:
		return math.Inf(-1)
	}
	v, _, _ := bigSum(finite)
	if v == 0 {
		if negZero && !nonNegZero {
			return math.Copysign(0, -1)
		}
		return 0
	}
	return v
}

func sameBits(t *testing.T, want, got float64, msg string) {
	t.Helper()
	if math.IsNaN(want) {
		want = math.NaN() // the one NaN Float64 returns
	}
	require.Equalf(t, math.Float64bits(want), math.Float64bits(got), "%s: want %v (%#x), got %v (%#x)",
		msg, want, math.Float64bits(want), got, math.Float64bits(got))
}

func TestSpecialCases(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	negz := math.Copysign(0, -1)
	max, tiny := math.MaxFloat64, math.SmallestNonzeroFloat64
	cases := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{1.5}, 1.5},
		{"-0", []float64{negz}, negz},
		{"-0 -0", []float64{negz, negz}, negz},
		{"-0 +0", []float64{negz, 0}, 0},
		{"x - x", []float64{3, -3}, 0},
		{"-x + x, -0", []float64{-3, 3, negz}, 0},
		{"NaN", []float64{1, nan, 2}, nan},
		{"+Inf", []float64{1, inf, -max}, inf},
		{"-Inf", []float64{-inf, max, max}, -inf},
		{"+Inf -Inf", []float64{inf, -inf}, nan},
		{"overflow", []float64{max, max}, inf},
		{"negative overflow", []float64{-max, -max}, -inf},
		{"no intermediate overflow", []float64{max, max, -max}, max},
		{"rounds to 2^1024", []float64{max, math.Ldexp(1, 970)}, inf}, // half an ulp: ties to even goes up
		{"just below overflow", []float64{max, math.Ldexp(1, 969)}, max},
		{"tiny + tiny", []float64{tiny, tiny}, 2 * tiny},
		{"tiny - tiny", []float64{tiny, -tiny}, 0},
		{"cancellation", []float64{1e308, 1, -1e308}, 1},
		{"1 + 2^-53 ties to even", []float64{1, math.Ldexp(1, -53)}, 1},
		{"1 + 2^-53 + 2^-105 rounds up", []float64{1, math.Ldexp(1, -53), math.Ldexp(1, -105)}, 1 + math.Ldexp(1, -52)},
		{"subnormal carries into normal", []float64{math.Float64frombits(1<<52 - 1), tiny}, math.Float64frombits(1 << 52)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a Acc
			for _, x := range c.xs {
				a.Add(x)
			}
			sameBits(t, c.want, a.Float64(), "Add")
			var b Acc
			b.AddSlice(c.xs)
			sameBits(t, c.want, b.Float64(), "AddSlice")
			sameBits(t, c.want, ieeeRef(c.xs), "reference")
		})
	}
}

// randFloat returns float64s over the whole range: random bit patterns
// (which include subnormals, infinities and NaNs) or, more often, values of
// a few magnitudes and both signs that cancel.
func randFloat(r *rand.Rand, specials bool) float64 {
	switch r.IntN(8) {
	case 0:
		x := math.Float64frombits(r.Uint64())
		if !specials && (math.IsNaN(x) || math.IsInf(x, 0)) {
			return 1
		}
		return x
	case 1:
		return math.Float64frombits(r.Uint64N(1 << 53)) // subnormal or tiny
	default:
		return (r.Float64() - 0.5) * math.Ldexp(1, r.IntN(200)-100)
	}
}

// sumSplit sums xs cut at random points into parts, each summed into its
// own Acc, merged in a random order, through Merge or the words.
func sumSplit(r *rand.Rand, xs []float64, words bool) float64 {
	var cuts []int
	for i := 0; i < len(xs); i += 1 + r.IntN(len(xs)/3+1) {
		cuts = append(cuts, i)
	}
	cuts = append(cuts, len(xs))
	parts := make([]Acc, len(cuts)-1)
	for i := range parts {
		if r.IntN(2) == 0 {
			parts[i].AddSlice(xs[cuts[i]:cuts[i+1]])
		} else {
			for _, x := range xs[cuts[i]:cuts[i+1]] {
				parts[i].Add(x)
			}
		}
	}
	var total Acc
	if words {
		sum := make([]int64, NumWords)
		for _, i := range r.Perm(len(parts)) {
			for j, w := range parts[i].AppendWords(nil) {
				sum[j] += w
			}
		}
		if len(parts) > 0 {
			if err := total.AddWords(sum); err != nil {
				panic(err)
			}
		}
	} else {
		for _, i := range r.Perm(len(parts)) {
			total.Merge(&parts[i])
		}
	}
	return total.Float64()
}

func TestRandomSplitsMatchMathBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 400 {
		n := r.IntN(3000)
		xs := make([]float64, n)
		specials := trial%4 == 0
		for i := range xs {
			xs[i] = randFloat(r, specials)
		}
		want := ieeeRef(xs)
		sameBits(t, want, Sum(xs), "Sum")
		sameBits(t, want, sumSplit(r, xs, false), "split, Merge")
		sameBits(t, want, sumSplit(r, xs, true), "split, words")
		if !specials {
			_, f32, _ := bigSum(xs)
			var a Acc
			a.AddSlice(xs)
			require.Equal(t, math.Float32bits(f32), math.Float32bits(a.Float32()), "Float32, trial %d", trial)
		}
	}
}

// TestManyAddsCarry adds enough large values of one sign that the chunks
// must carry many times, and checks the exact count comes back.
func TestManyAddsCarry(t *testing.T) {
	var a Acc
	const n = 5*budget + 17
	x := math.Ldexp(1, 1023) // the largest power of two
	for range n {
		a.Add(x)
		a.Add(-0.5)
	}
	var b Acc
	b.Add(n * 0.5)
	a.Merge(&b)
	require.Equal(t, math.Inf(1), a.Float64(), "n·2^1023 overflows")
	for range n {
		a.Add(-x)
	}
	require.Equal(t, 0.0, a.Float64(), "and comes back to zero exactly")
	require.False(t, math.Signbit(a.Float64()))
}

// TestFloat32Rounding checks Float32 rounds the exact sum once: 1 + 2^-24 +
// 2^-60 rounds up in one step, while rounding through a float64 first
// (1 + 2^-24 exactly) would tie to even and round down.
func TestFloat32Rounding(t *testing.T) {
	var a Acc
	a.AddSlice([]float64{1, math.Ldexp(1, -24), math.Ldexp(1, -60)})
	require.Equal(t, float32(1)+float32(math.Ldexp(1, -23)), a.Float32())
	require.Equal(t, float32(1), float32(a.Float64()), "double rounding would give 1")

	var tiny Acc // below half the smallest float32 subnormal: to zero, with the sign
	tiny.Add(-math.Ldexp(1, -151))
	require.Equal(t, math.Float32bits(float32(math.Copysign(0, -1))), math.Float32bits(tiny.Float32()))
	var half Acc // 2^-150 + 2^-200 is above half: rounds up to 2^-149
	half.AddSlice([]float64{math.Ldexp(1, -150), math.Ldexp(1, -200)})
	require.Equal(t, float32(math.Ldexp(1, -149)), half.Float32())
	var big Acc
	big.AddSlice([]float64{math.MaxFloat32, math.MaxFloat32})
	require.True(t, math.IsInf(float64(big.Float32()), 1))
}

func TestWordsAreAdditive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const k = 50
	var want Acc
	sum := make([]int64, NumWords)
	for range k {
		var a Acc
		for range 100 {
			a.Add(randFloat(r, false))
		}
		want.Merge(&a)
		for j, w := range a.AppendWords(nil) {
			sum[j] += w
		}
	}
	require.EqualValues(t, k, sum[wCount])
	var got Acc
	require.NoError(t, got.AddWords(sum))
	sameBits(t, want.Float64(), got.Float64(), "merged through words")
}

func TestAddWordsRefusesBadWords(t *testing.T) {
	var one Acc
	one.Add(1)
	good := one.AppendWords(nil)
	mod := func(i int, v int64) []int64 {
		w := append([]int64(nil), good...)
		w[i] = v
		return w
	}
	cases := map[string][]int64{
		"short":            good[:NumWords-1],
		"long":             append(append([]int64(nil), good...), 0),
		"count 0":          mod(wCount, 0),
		"count huge":       mod(wCount, maxWordsCount+1),
		"negative flag":    mod(wNaN, -1),
		"flag above count": mod(wNegZero, 2),
		"chunk too big":    mod(wChunks+3, maxChunkWord),
		"chunk too small":  mod(wChunks+top, -maxChunkWord),
		"sum too large":    mod(wChunks+top, maxTop),
		"sum too negative": mod(wChunks+top, -maxTop-1),
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			a := one
			err := a.AddWords(w)
			require.ErrorIs(t, err, ErrWords)
			require.Equal(t, 1.0, a.Float64(), "unchanged")
		})
	}
}

// floatsOf reads float64s from raw bytes, eight at a time.
func floatsOf(data []byte) []float64 {
	xs := make([]float64, len(data)/8)
	for i := range xs {
		xs[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return xs
}

// FuzzSplit checks that any values, cut anywhere and merged in any order,
// give the bits of the correctly rounded sum computed with math/big.
func FuzzSplit(f *testing.F) {
	f.Add([]byte{}, uint64(1))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.MaxFloat64)), uint64(2))
	seed := []byte{}
	for _, x := range []float64{1, math.Ldexp(1, -53), math.Ldexp(1, -105), -1e308, 1e308, math.SmallestNonzeroFloat64} {
		seed = binary.LittleEndian.AppendUint64(seed, math.Float64bits(x))
	}
	f.Add(seed, uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint64) {
		xs := floatsOf(data)
		want := ieeeRef(xs)
		r := rand.New(rand.NewPCG(split, 7))
		sameBits(t, want, Sum(xs), "Sum")
		sameBits(t, want, sumSplit(r, xs, false), "split, Merge")
		sameBits(t, want, sumSplit(r, xs, true), "split, words")
		var slow Acc
		for _, x := range xs {
			slow.Add(x)
		}
		sameBits(t, want, slow.Float64(), "Add one by one")
	})
}

// FuzzAddWords feeds arbitrary words to AddWords: it must refuse them with
// ErrWords or accept them, and then rounding must not panic and must agree
// with the words' own sum of chunks.
func FuzzAddWords(f *testing.F) {
	var one Acc
	one.AddSlice([]float64{1, -2.5, 1e300})
	var seed []byte
	for _, w := range one.AppendWords(nil) {
		seed = binary.LittleEndian.AppendUint64(seed, uint64(w))
	}
	f.Add(seed)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		w := make([]int64, len(data)/8)
		for i := range w {
			w[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		var a Acc
		err := a.AddWords(w)
		if err != nil {
			require.True(t, errors.Is(err, ErrWords), "%v", err)
			require.Equal(t, Acc{}, a)
			return
		}
		got := a.Float64()
		if a.nan || a.posInf || a.negInf {
			return
		}
		exactVal := new(big.Float).SetPrec(8192)
		for i, c := range w[wChunks:] {
			term := new(big.Float).SetPrec(8192).SetInt64(c)
			exactVal.Add(exactVal, term.SetMantExp(term, chunkBits*i-1074))
		}
		want, _ := exactVal.Float64()
		if want == 0 {
			require.Equal(t, 0.0, got)
			return
		}
		sameBits(t, want, got, "words")
	})
}
