package engine

import (
	"fmt"
	"math/bits"
)

// Option changes how For, Reduce and Partials split their index range: a
// schedule (Static, Dynamic, Guided, Deterministic) or the Range of a slice.
// Later options override earlier ones of the same sort. Options cost no
// allocation on the hot path.
type Option func(*plan)

// Static splits the range into one contiguous block per participant (sizes
// differ by at most one), participant i taking block i, as OpenMP's
// schedule(static). It is the default: the cheapest schedule, and the best
// for bandwidth-bound kernels whose cost per element is uniform. One
// exception keeps a job from waiting on a worker process that is late
// (descheduled, or asleep on its futex): a worker process that has done its
// own block takes a block nobody has claimed yet.
func Static() Option { return static }

func static(p *plan) { p.sched, p.size = schedStatic, 0 }

// Dynamic splits the range into chunks of chunk elements (the last may be
// shorter) that participants claim one at a time from a shared counter, as
// OpenMP's schedule(dynamic, chunk). It balances kernels whose cost per
// element varies. chunk 0 picks ceil(len/(8·participants)); a negative
// chunk makes For, Reduce and Partials fail with ErrBadOption.
func Dynamic(chunk int) Option {
	return func(p *plan) { p.sched, p.size = schedDynamic, chunk }
}

// Guided hands out chunks that shrink as the range is used up: each is the
// remaining length divided by the number of participants, but at least
// minChunk, as OpenMP's schedule(guided, minChunk). minChunk 0 means 1; a
// negative minChunk makes For, Reduce and Partials fail with ErrBadOption.
func Guided(minChunk int) Option {
	return func(p *plan) { p.sched, p.size = schedGuided, minChunk }
}

// Deterministic splits the range at the multiples of grain (counted from 0
// of the global range, see Range), claims chunks dynamically, and makes
// Reduce combine the per-chunk partial results in chunk order. The chunk
// boundaries and the order depend only on n and grain, never on the number
// of workers, so a floating-point reduction is bitwise identical at any
// team size. grain 0 picks Grain(n) of the global n; a negative grain makes
// For, Reduce and Partials fail with ErrBadOption.
func Deterministic(grain int) Option {
	return func(p *plan) { p.sched, p.size = schedDet, grain }
}

// Range makes the job cover only [lo, hi) of the global index space [0, n):
// the kernel sees global indices, and Deterministic fixes its chunk grain
// from the global n. It is meant for hybrid runs where each node's team
// takes one slice of a global loop. Reductions over slices that start and
// end at multiples of the grain give partials (see Partials) that combine,
// in slice order, to exactly the single-team result. A slice that is not
// inside [0, n) makes For, Reduce and Partials fail with ErrBadRange.
func Range(lo, hi int) Option {
	return func(p *plan) { p.lo, p.hi = lo, hi }
}

// Grain returns the chunk grain Deterministic(0) uses for a loop of n
// elements: the smallest power of two ≥ 1024 that makes at most 1024
// chunks.
func Grain(n int) int {
	g := 1024
	if n > 1024*1024 {
		c := ceilDiv(n, 1024)
		g = 1 << bits.Len(uint(c-1)) // next power of two ≥ c
	}
	return g
}

type schedKind uint32

const (
	schedStatic schedKind = iota
	schedDynamic
	schedGuided
	schedDet
	schedList // an explicit list of chunks (re-running a dead worker's chunk)
)

func (s schedKind) String() string {
	switch s {
	case schedStatic:
		return "static"
	case schedDynamic:
		return "dynamic"
	case schedGuided:
		return "guided"
	case schedDet:
		return "deterministic"
	case schedList:
		return "list"
	}
	return fmt.Sprintf("sched(%d)", uint32(s))
}

// plan is how one job splits its range into chunks 0 ≤ c < k.
type plan struct {
	sched  schedKind
	n      int // global length
	lo, hi int // the range this job runs, 0 ≤ lo ≤ hi ≤ n
	size   int // dynamic: chunk; guided: minimum chunk; det: grain
	parts  int // participants
	first  int // det: global index (lo/size based) of chunk 0
	k      int // number of chunks

	progress Progress // ReportProgress's callback, or nil
}

// makePlan applies opts to a job over [0, n) run by parts participants.
func makePlan(n, parts int, opts []Option) (plan, error) {
	var p plan
	err := p.init(n, parts, opts)
	return p, err
}

// init makes p the plan of a job over [0, n) run by parts participants,
// with opts applied. (A Team keeps its plan in place: an Option is a func
// value, and escape analysis would move a plan on the stack that one is
// given to the heap, one allocation per job.)
func (p *plan) init(n, parts int, opts []Option) error {
	*p = plan{n: n, hi: n, parts: parts}
	if n < 0 {
		return fmt.Errorf("engine: %w: n = %d is negative", ErrBadRange, n)
	}
	for _, o := range opts {
		if o != nil {
			o(p)
		}
	}
	if p.lo < 0 || p.lo > p.hi || p.hi > n {
		return fmt.Errorf("engine: %w: Range(%d, %d) is not inside [0, %d)", ErrBadRange, p.lo, p.hi, n)
	}
	if p.size < 0 {
		what := map[schedKind]string{schedDynamic: "Dynamic chunk", schedGuided: "Guided minChunk", schedDet: "Deterministic grain"}[p.sched]
		return fmt.Errorf("engine: %w: %s = %d is negative (0 picks the default)", ErrBadOption, what, p.size)
	}
	length := p.hi - p.lo
	switch p.sched {
	case schedStatic:
		p.k = min(parts, length)
	case schedDynamic:
		if p.size == 0 {
			p.size = max(1, ceilDiv(length, 8*parts))
		}
		p.k = ceilDiv(length, p.size)
	case schedGuided:
		if p.size == 0 {
			p.size = 1
		}
		p.k = len(guidedStarts(length, parts, p.size)) - 1
	case schedDet:
		if p.size == 0 {
			p.size = Grain(n)
		}
		p.first, p.k = detChunks(p.lo, p.hi, p.size)
	}
	if int64(p.k) > maxChunks {
		return fmt.Errorf("engine: %w: %d chunks, at most %d (use a larger chunk)", ErrBadRange, p.k, int64(maxChunks))
	}
	return nil
}

// chunk returns the bounds of chunk c. guided must be
// guidedStarts(hi-lo, parts, size) for a guided plan and is ignored
// otherwise.
func (p *plan) chunk(c int, guided []int) (lo, hi int) {
	switch p.sched {
	case schedStatic:
		return staticBlock(p.lo, p.hi, p.k, c)
	case schedDynamic:
		lo = p.lo + c*p.size
		return lo, lo + min(p.size, p.hi-lo)
	case schedGuided:
		return p.lo + guided[c], p.lo + guided[c+1]
	case schedDet:
		j := p.first + c
		return max(p.lo, j*p.size), min(p.hi, j*p.size+min(p.size, p.hi-j*p.size))
	}
	panic("engine: chunk of a list plan")
}

// ceilDiv returns ⌈a/b⌉ for a ≥ 0, b > 0 without overflow.
func ceilDiv(a, b int) int {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

// staticBlock returns block c of k near-equal contiguous blocks of [lo, hi):
// the first (hi-lo)%k blocks are one longer.
func staticBlock(lo, hi, k, c int) (int, int) {
	n := hi - lo
	q, r := n/k, n%k
	start := lo + c*q + min(c, r)
	size := q
	if c < r {
		size++
	}
	return start, start + size
}

// guidedStarts returns the chunk offsets of a guided schedule over n
// elements: starts[c] is where chunk c begins and the last entry is n. Each
// chunk is ⌈remaining/parts⌉ long but at least minChunk (libgomp's rule), so
// there are about parts·(ln(n/(parts·minChunk))+1) chunks.
func guidedStarts(n, parts, minChunk int) []int {
	starts := make([]int, 0, 8*parts+8)
	off := 0
	for off < n {
		starts = append(starts, off)
		rem := n - off
		size := max(ceilDiv(rem, parts), minChunk)
		off += min(size, rem)
	}
	return append(starts, n)
}

// detChunks returns the global index of the first grain-aligned chunk that
// meets [lo, hi) and how many there are.
func detChunks(lo, hi, grain int) (first, k int) {
	if hi <= lo {
		return lo / grain, 0
	}
	first = lo / grain
	last := (hi - 1) / grain
	return first, last - first + 1
}
