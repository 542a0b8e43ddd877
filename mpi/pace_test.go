//go:build mpi

package mpi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPacer checks that the MPI goroutine yields once per pacePeriod of
// calls, looking at the clock every paceEvery calls, whatever the rate of
// calls.
func TestPacer(t *testing.T) {
	for _, perCall := range []time.Duration{100 * time.Nanosecond, 3 * time.Microsecond, time.Millisecond} {
		clock := time.Unix(1, 0)
		yields, looks := 0, 0
		p := pacer{now: func() time.Time { looks++; return clock }, yield: func() { yields++ }}
		const calls = 100_000
		for range calls {
			clock = clock.Add(perCall)
			p.call()
		}
		require.Equal(t, calls/paceEvery, looks, "per call %v", perCall)
		span := time.Duration(calls) * perCall
		// One yield per period, counted at the first look past it.
		lookGap := time.Duration(paceEvery) * perCall
		want := int(span / max(pacePeriod, lookGap))
		require.InDelta(t, want, yields, float64(want)/10+1, "per call %v over %v", perCall, span)
	}
}
