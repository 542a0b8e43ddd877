package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunks enumerates the chunks of a plan in index order.
func chunks(p plan) [][2]int {
	var g []int
	if p.sched == schedGuided {
		g = guidedStarts(p.hi-p.lo, p.parts, p.size)
	}
	out := make([][2]int, 0, p.k)
	for c := 0; c < p.k; c++ {
		lo, hi := p.chunk(c, g)
		out = append(out, [2]int{lo, hi})
	}
	return out
}

// checkCover checks that the chunks are non-empty, in order, disjoint and
// cover [lo, hi) exactly.
func checkCover(t *testing.T, p plan, cs [][2]int) {
	t.Helper()
	at := p.lo
	for c, b := range cs {
		if b[0] != at || b[0] >= b[1] {
			t.Fatalf("chunk %d of %+v is [%d, %d), want it to start at %d and be non-empty", c, p, b[0], b[1], at)
		}
		at = b[1]
	}
	require.Equal(t, p.hi, at, "chunks of %+v end at %d", p, at)
}

func TestPartitionsCoverRange(t *testing.T) {
	ns := []int{0, 1, 2, 3, 5, 7, 13, 97, 1000, 4099, 1<<31 + 3, 1<<33 + 17}
	partsList := []int{1, 2, 3, 4, 16}
	scheds := []struct {
		name string
		opt  Option
	}{
		{"static", Static()},
		{"dynamic-default", Dynamic(0)},
		{"dynamic-1", Dynamic(1)},
		{"dynamic-7", Dynamic(7)},
		{"guided-1", Guided(1)},
		{"guided-5", Guided(5)},
		{"det-default", Deterministic(0)},
		{"det-3", Deterministic(3)},
		{"det-1024", Deterministic(1024)},
	}
	for _, n := range ns {
		for _, parts := range partsList {
			for _, s := range scheds {
				ranges := [][2]int{{0, n}}
				if n >= 10 {
					ranges = append(ranges, [2]int{n / 3, n - n/5}, [2]int{1, 2}, [2]int{n - 1, n})
				}
				for _, r := range ranges {
					name := fmt.Sprintf("n=%d/parts=%d/%s/range=%d-%d", n, parts, s.name, r[0], r[1])
					p, err := makePlan(n, parts, []Option{s.opt, Range(r[0], r[1])})
					require.NoError(t, err, name)
					if p.k > 1<<14 {
						continue // e.g. Dynamic(1) over 2^31: bounds checked by formula below
					}
					cs := chunks(p)
					checkCover(t, p, cs)
					require.True(t, p.valid(0, 16), "%s: plan %+v not valid", name, p)
					switch p.sched {
					case schedStatic:
						require.Equal(t, min(parts, r[1]-r[0]), p.k, name)
						for _, c := range cs {
							sz := c[1] - c[0]
							q := (r[1] - r[0]) / max(p.k, 1)
							require.True(t, sz == q || sz == q+1, "%s: block size %d, want %d or %d", name, sz, q, q+1)
						}
					case schedDet:
						for _, c := range cs[:max(len(cs)-1, 0)] {
							require.Zero(t, c[1]%p.size, "%s: det chunk boundary %d not on the grain %d", name, c[1], p.size)
						}
					}
				}
			}
		}
	}
}

func TestPartitionHugeDynamic(t *testing.T) {
	// 2^31+k elements in chunks of 1: check the ends by formula, no int32 overflow.
	n := 1<<31 + 5
	p, err := makePlan(n, 4, []Option{Dynamic(1)})
	require.NoError(t, err)
	require.Equal(t, n, p.k)
	lo, hi := p.chunk(p.k-1, nil)
	require.Equal(t, [2]int{n - 1, n}, [2]int{lo, hi})
	lo, hi = p.chunk(1<<31, nil)
	require.Equal(t, [2]int{1 << 31, 1<<31 + 1}, [2]int{lo, hi})

	// Near the top of int: chunk arithmetic must not overflow.
	n = math.MaxInt
	p, err = makePlan(n, 3, []Option{Dynamic(1 << 40)})
	require.NoError(t, err)
	lo, hi = p.chunk(p.k-1, nil)
	require.Equal(t, n, hi)
	require.Less(t, lo, hi)
	p, err = makePlan(n, 3, []Option{Deterministic(1 << 50)})
	require.NoError(t, err)
	checkCover(t, p, chunks(p))
	p, err = makePlan(n, 7, nil)
	require.NoError(t, err)
	checkCover(t, p, chunks(p))
}

func TestPlanErrors(t *testing.T) {
	_, err := makePlan(-1, 2, nil)
	require.ErrorIs(t, err, ErrBadRange)
	for _, r := range [][2]int{{-1, 3}, {4, 3}, {0, 11}} {
		_, err := makePlan(10, 2, []Option{Range(r[0], r[1])})
		require.ErrorIs(t, err, ErrBadRange, "Range(%d, %d)", r[0], r[1])
	}
}

// A negative chunk, minimum chunk or grain is an error; 0 picks the
// documented default; so does leaving the option out.
func TestScheduleOptionDomains(t *testing.T) {
	for _, o := range []struct {
		name string
		opt  func(int) Option
	}{{"Dynamic", Dynamic}, {"Guided", Guided}, {"Deterministic", Deterministic}} {
		for _, bad := range []int{-1, -3, math.MinInt} {
			_, err := makePlan(100, 2, []Option{o.opt(bad)})
			require.ErrorIs(t, err, ErrBadOption, "%s(%d)", o.name, bad)
			require.NotErrorIs(t, err, ErrBadRange)
			require.Contains(t, err.Error(), o.name)
			require.Contains(t, err.Error(), fmt.Sprint(bad))
		}
	}
	p, err := makePlan(1000, 4, []Option{Dynamic(0)})
	require.NoError(t, err)
	require.Equal(t, ceilDiv(1000, 8*4), p.size, "Dynamic(0): ceil(len/(8·participants))")
	p, err = makePlan(1000, 4, []Option{Guided(0)})
	require.NoError(t, err)
	require.Equal(t, 1, p.size, "Guided(0): a minimum chunk of 1")
	p, err = makePlan(1<<22, 4, []Option{Deterministic(0)})
	require.NoError(t, err)
	require.Equal(t, Grain(1<<22), p.size, "Deterministic(0): Grain(n)")
	// More chunks than a claim word counts.
	_, err = makePlan(1<<41, 4, []Option{Dynamic(1)})
	require.ErrorIs(t, err, ErrBadRange)
}

func TestDeterministicChunksIndependentOfWorkers(t *testing.T) {
	for _, n := range []int{1, 1000, 100003, 1<<22 + 7} {
		var ref [][2]int
		for parts := 1; parts <= 16; parts++ {
			p, err := makePlan(n, parts, []Option{Deterministic(0)})
			require.NoError(t, err)
			cs := chunks(p)
			if ref == nil {
				ref = cs
			}
			require.Equal(t, ref, cs, "n=%d parts=%d", n, parts)
		}
	}
}

func TestGrain(t *testing.T) {
	require.Equal(t, 1024, Grain(0))
	require.Equal(t, 1024, Grain(1<<20))
	require.Equal(t, 2048, Grain(1<<20+1))
	require.Equal(t, 1<<21, Grain(1<<31))
	for _, n := range []int{1 << 20, 1<<25 + 3, 1 << 40} {
		g := Grain(n)
		require.LessOrEqual(t, ceilDiv(n, g), 1024)
		require.Zero(t, g&(g-1), "grain %d is a power of two", g)
	}
}

func TestGuidedShrinks(t *testing.T) {
	s := guidedStarts(1000, 4, 10)
	require.Equal(t, 0, s[0])
	require.Equal(t, 1000, s[len(s)-1])
	require.Equal(t, 250, s[1]) // ⌈1000/4⌉
	prev := math.MaxInt
	for i := 0; i+1 < len(s); i++ {
		sz := s[i+1] - s[i]
		require.LessOrEqual(t, sz, prev)
		if i+2 < len(s) {
			require.GreaterOrEqual(t, sz, 10)
		}
		prev = sz
	}
}

func TestCeilDiv(t *testing.T) {
	require.Equal(t, 0, ceilDiv(0, 3))
	require.Equal(t, 1, ceilDiv(1, 3))
	require.Equal(t, 2, ceilDiv(4, 3))
	require.Equal(t, math.MaxInt, ceilDiv(math.MaxInt, 1))
	require.Equal(t, 1<<62, ceilDiv(math.MaxInt, 2))
}

func TestPlanValidRejectsCorrupt(t *testing.T) {
	good, err := makePlan(100, 2, []Option{Dynamic(10)})
	require.NoError(t, err)
	require.True(t, good.valid(0, 16))
	for _, mut := range []func(p *plan){
		func(p *plan) { p.lo = -1 },
		func(p *plan) { p.hi = 101 },
		func(p *plan) { p.k = 11 },
		func(p *plan) { p.size = 0 },
		func(p *plan) { p.parts = 0 },
		func(p *plan) { p.sched = 99 },
		func(p *plan) { p.sched, p.k = schedList, 3 },
		func(p *plan) { p.sched, p.k = schedStatic, 3 },
		func(p *plan) { p.sched, p.size, p.first = schedDet, 10, 5 },
	} {
		p := good
		mut(&p)
		require.False(t, p.valid(2, 16), "%+v", p)
	}
}
