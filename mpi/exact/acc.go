package exact

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Layout of the fixed-point value. Bit position 0 is worth 2^-1074, the
// smallest subnormal float64; a finite float64 with biased exponent e and
// 53-bit significand m (implicit bit included) is m·2^p with p = e-1 (p = 0
// for subnormals), so its bits sit at positions p..p+52 ≤ 2097. Chunk i holds
// the bits at positions 32i..32i+31 and is worth chunk[i]·2^(32i-1074). Adds
// touch chunks 0..64 only; 65 and 66 take carries, and the last chunk keeps
// everything above it, signed, so the sum of any realistic count of values
// (fewer than 2^63) fits.
const (
	chunkBits = 32
	chunkMask = 1<<chunkBits - 1
	nChunks   = 67
	top       = nChunks - 1

	// budget is how many adds may go into the chunks between two carry
	// propagations. A normalised chunk is in [0, 2^32); one add changes a
	// chunk by less than 2^52; so after budget adds |chunk| < 2^32 + 2^62,
	// far from overflow.
	budget = 1 << 10
)

// word indices of the additive encoding (see AppendWords)
const (
	wCount = iota // number of accumulators summed into these words
	wNaN
	wPosInf
	wNegInf
	wNonNegZero // some addend other than -0
	wNegZero    // some addend -0
	wChunks
)

// NumWords is the number of int64 words AppendWords writes.
const NumWords = wChunks + nChunks

// Bounds AddWords enforces on words from elsewhere: the count of
// accumulators summed, and the magnitude of every chunk word (normalised
// chunks are below 2^32, so 2^60 allows 2^28 accumulators while keeping
// every later carry propagation far from overflow).
const (
	maxWordsCount = 1 << 28
	maxChunkWord  = 1 << 60
)

// maxTop bounds the top chunk of a sum AddWords accepts. Any sum of fewer
// than 2^63 finite float64s has a top chunk below 2^49 in magnitude; the
// bound keeps the top chunk of an accumulator that took such words, and of
// merges of up to 2^6 of them, far from int64 overflow.
const maxTop = 1 << 56

// ErrWords is returned by AddWords when words do not encode an accumulator
// (or a sum of at most 2^28 of them): the wrong length, a count below 1 or
// too large, a flag outside [0, count], a chunk word of magnitude 2^60 or
// more, or a sum no float64 values could add up to (2^1094 or more).
var ErrWords = errors.New("malformed accumulator words")

// Acc holds the exact sum of the float64 values added to it: a fixed-point
// number wide enough for every finite float64 and for sums of up to 2^63 of
// them, plus what IEEE 754 needs for the special values (NaN, ±Inf, the sign
// of zero). Its zero value is an empty sum, ready to use. An Acc is a plain
// value of 600 bytes with no pointers: it may be copied (the copy is an
// independent sum) and placed in shared memory, but it is not safe for
// concurrent use.
type Acc struct {
	chunk   [nChunks]int64
	pending int // adds since the last carry propagation

	nan, posInf, negInf bool
	nonNegZero, negZero bool
}

// Reset makes a an empty sum.
func (a *Acc) Reset() { *a = Acc{} }

// Add adds x to the sum exactly.
func (a *Acc) Add(x float64) {
	u := math.Float64bits(x)
	e := int(u>>52) & 0x7ff
	m := int64(u & (1<<52 - 1))
	switch {
	case e == 0x7ff:
		a.special(u)
		return
	case e != 0:
		m |= 1 << 52
		e--
	case m == 0:
		a.zero(u)
		return
	}
	a.addBits(m, e, int64(u)>>63)
}

// addBits adds (-1)^neg·m·2^(p-1074) for a nonzero significand m < 2^53 and
// 0 ≤ p ≤ 2045; sign is 0 for a positive value and -1 for a negative one.
func (a *Acc) addBits(m int64, p int, sign int64) {
	i := (p >> 5) & 63
	sh := uint(p & 31)
	lo := (m << sh) & chunkMask
	hi := m >> (chunkBits - sh)
	a.chunk[i] += (lo ^ sign) - sign
	a.chunk[i+1] += (hi ^ sign) - sign
	a.pending++
	if a.pending >= budget {
		a.normalize()
	}
}

// AddSlice adds every element of xs to the sum exactly. It is Add in a
// loop, written out so that the loop runs at about a nanosecond per element.
func (a *Acc) AddSlice(xs []float64) {
	c := &a.chunk
	pending := a.pending
	for _, x := range xs {
		u := math.Float64bits(x)
		e := int(u>>52) & 0x7ff
		m := int64(u & (1<<52 - 1))
		if uint(e-1) >= 0x7fe { // e == 0 (zero or subnormal) or e == 0x7ff
			if e == 0x7ff {
				a.special(u)
				continue
			}
			if m == 0 {
				a.zero(u)
				continue
			}
			e = 1 // a subnormal sits at position 0, like the smallest normals
		} else {
			m |= 1 << 52
		}
		e--
		sign := int64(u) >> 63
		i := (e >> 5) & 63
		sh := uint(e & 31)
		lo := (m << sh) & chunkMask
		hi := m >> (chunkBits - sh)
		c[i] += (lo ^ sign) - sign
		c[i+1] += (hi ^ sign) - sign
		pending++
		if pending >= budget {
			a.pending = pending
			a.normalize()
			pending = 0
		}
	}
	a.pending = pending
}

// special records a NaN or an infinity.
func (a *Acc) special(u uint64) {
	switch {
	case u&(1<<52-1) != 0:
		a.nan = true
	case u>>63 != 0:
		a.negInf = true
	default:
		a.posInf = true
	}
}

// zero records the sign of a zero addend.
func (a *Acc) zero(u uint64) {
	if u != 0 {
		a.negZero = true
	} else {
		a.nonNegZero = true
	}
}

// normalize propagates carries so that chunks 0..top-1 are in [0, 2^32) and
// the top chunk holds the rest, signed. The value is unchanged.
func (a *Acc) normalize() {
	if a.pending > 0 {
		a.nonNegZero = true // a nonzero finite value was added
	}
	a.pending = 0
	var carry int64
	for i := range top {
		v := a.chunk[i] + carry
		a.chunk[i] = v & chunkMask
		carry = v >> chunkBits
	}
	a.chunk[top] += carry
}

// Merge adds the sum held by b to a. The value held by b is unchanged (its
// carries are propagated).
func (a *Acc) Merge(b *Acc) {
	a.normalize()
	b.normalize()
	for i := range a.chunk {
		a.chunk[i] += b.chunk[i]
	}
	a.normalize()
	a.nan = a.nan || b.nan
	a.posInf = a.posInf || b.posInf
	a.negInf = a.negInf || b.negInf
	a.nonNegZero = a.nonNegZero || b.nonNegZero
	a.negZero = a.negZero || b.negZero
}

// AppendWords appends the NumWords int64 words that encode the sum to dst
// and returns the extended slice. The encoding is additive: adding the words
// of k accumulators element by element, in any order and grouping (as an
// MPI_Allreduce with MPI_SUM over MPI_INT64_T does), gives words that
// AddWords reads as the merge of all k, for k ≤ 2^28. The words hold a count
// of accumulators (1 here), one 0/1 word per special case, then the
// normalised fixed-point chunks, least significant first.
func (a *Acc) AppendWords(dst []int64) []int64 {
	a.normalize()
	dst = append(dst, 1, b2i(a.nan), b2i(a.posInf), b2i(a.negInf), b2i(a.nonNegZero), b2i(a.negZero))
	return append(dst, a.chunk[:]...)
}

// AddWords adds to a the sum encoded by w: the words of one accumulator from
// AppendWords, or the element-wise sum of the words of several. Words that
// could not have come from there are refused with an error wrapping ErrWords,
// and a is then unchanged.
func (a *Acc) AddWords(w []int64) error {
	if len(w) != NumWords {
		return fmt.Errorf("%w: %d words, want %d", ErrWords, len(w), NumWords)
	}
	k := w[wCount]
	if k < 1 || k > maxWordsCount {
		return fmt.Errorf("%w: count of accumulators %d is not in [1, 2^28]", ErrWords, k)
	}
	for i := wNaN; i < wChunks; i++ {
		if w[i] < 0 || w[i] > k {
			return fmt.Errorf("%w: flag word %d is %d, not in [0, %d]", ErrWords, i, w[i], k)
		}
	}
	for i, c := range w[wChunks:] {
		if c <= -maxChunkWord || c >= maxChunkWord {
			return fmt.Errorf("%w: chunk %d is %d, of magnitude 2^60 or more", ErrWords, i, c)
		}
	}
	b := *a
	b.normalize()
	for i, c := range w[wChunks:] {
		b.chunk[i] += c
	}
	b.normalize()
	if t := b.chunk[top]; t <= -maxTop || t >= maxTop {
		return fmt.Errorf("%w: the sum is beyond 2^1094 in magnitude, more than any sum of 2^63 float64s", ErrWords)
	}
	*a = b
	a.nan = a.nan || w[wNaN] > 0
	a.posInf = a.posInf || w[wPosInf] > 0
	a.negInf = a.negInf || w[wNegInf] > 0
	a.nonNegZero = a.nonNegZero || w[wNonNegZero] > 0
	a.negZero = a.negZero || w[wNegZero] > 0
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Float64 returns the sum rounded once, to the nearest float64 (ties to
// even): the correctly rounded value of the exact sum, whatever the order
// and grouping of the adds and merges that built it. IEEE 754 cases:
//   - any NaN addend, or both +Inf and -Inf, give NaN (always the same NaN,
//     math.NaN(), so the result's bits are reproducible too);
//   - otherwise an infinite addend gives that infinity;
//   - a finite exact sum whose rounded value is 2^1024 or more in magnitude
//     gives ±Inf, and only then: intermediate sums never overflow;
//   - an exact zero is -0 if every addend was -0 (at least one), else +0.
//
// The carries are propagated; the value held is unchanged.
func (a *Acc) Float64() float64 {
	return a.round(53, 0)
}

// Float32 returns the sum correctly rounded to float32 (ties to even), with
// the same rules as Float64 (overflow at 2^128). It rounds the exact sum
// once, not through a float64.
func (a *Acc) Float32() float32 {
	return float32(a.round(24, 925)) // 2^-149 is bit position 925
}

// round returns the exact sum rounded to prec significant bits with the
// least bit at position minPos or above, as a float64 holding that value
// exactly (or ±Inf if it is 2^1024 or more, or NaN).
func (a *Acc) round(prec, minPos int) float64 {
	a.normalize()
	switch {
	case a.nan || a.posInf && a.negInf:
		return math.NaN()
	case a.posInf:
		return math.Inf(1)
	case a.negInf:
		return math.Inf(-1)
	}
	mag := a.chunk
	neg := mag[top] < 0
	if neg {
		var carry int64
		for i := range top {
			v := carry - mag[i]
			mag[i] = v & chunkMask
			carry = v >> chunkBits
		}
		mag[top] = carry - mag[top]
	}
	h := highBit(&mag)
	if h < 0 {
		if a.negZero && !a.nonNegZero {
			return math.Copysign(0, -1)
		}
		return 0
	}
	s := max(h-(prec-1), minPos) // position of the result's last bit
	var m uint64
	for p := h; p >= s; p-- {
		m = m<<1 | bitAt(&mag, p)
	}
	if s > 0 && bitAt(&mag, s-1) == 1 && (m&1 == 1 || anyBelow(&mag, s-1)) {
		m++ // round half to even; m may become 2^prec, still exact below
	}
	v := math.Ldexp(float64(m), s-1074) // exact, or ±Inf on overflow
	if neg {
		v = -v
	}
	return v
}

// highBit returns the position of the highest set bit of a normalised
// non-negative value, or -1 if it is zero.
func highBit(c *[nChunks]int64) int {
	for i := top; i >= 0; i-- {
		if c[i] != 0 {
			return chunkBits*i + bits.Len64(uint64(c[i])) - 1
		}
	}
	return -1
}

// bitAt returns bit p of a normalised non-negative value.
func bitAt(c *[nChunks]int64, p int) uint64 {
	i, b := p/chunkBits, p%chunkBits
	if i >= top {
		i, b = top, p-chunkBits*top
		if b >= 63 {
			return 0
		}
	}
	return uint64(c[i]>>b) & 1
}

// anyBelow reports whether a bit below position p is set.
func anyBelow(c *[nChunks]int64, p int) bool {
	i, b := p/chunkBits, p%chunkBits
	if i >= top {
		i, b = top, min(p-chunkBits*top, 63)
	}
	if c[i]&(1<<b-1) != 0 {
		return true
	}
	for j := range i {
		if c[j] != 0 {
			return true
		}
	}
	return false
}

// Sum returns the correctly rounded sum of xs (see Acc.Float64): the same
// bits for any permutation of xs and any split of it into parts summed
// separately and merged.
func Sum(xs []float64) float64 {
	var a Acc
	a.AddSlice(xs)
	return a.Float64()
}
