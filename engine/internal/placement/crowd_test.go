package placement

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// yields feeds c n yields of d each, 1 µs of clock apart from start, and
// returns the clock after them.
func yields(c *Crowding, n int, d time.Duration, now time.Time) time.Time {
	for range n {
		now = now.Add(d + time.Microsecond)
		c.Yielded(d, now)
	}
	return now
}

func TestCrowdingMovesAfterARunOfLateYields(t *testing.T) {
	moves := 0
	c := &Crowding{Move: func() bool { moves++; return true }}
	now := time.Unix(1000, 0)
	late, prompt := 10*lateYield, lateYield/8

	// Late yields broken up by prompt ones are interrupts, not a neighbour.
	for range 10 {
		now = yields(c, lateRun-1, late, now)
		now = yields(c, 1, prompt, now)
	}
	require.Zero(t, moves, "no run of %d late yields yet", lateRun)

	now = yields(c, lateRun, late, now)
	require.Equal(t, 1, moves, "a run of late yields moves the worker")

	// Still crowded right after: no second move before the backoff ends.
	now = yields(c, 3*lateRun, late, now)
	require.Equal(t, 1, moves, "moves are spaced by at least %v", minBackoff)

	// After the backoff a run moves again; the spacing doubles.
	now = now.Add(minBackoff)
	now = yields(c, lateRun, late, now)
	require.Equal(t, 2, moves)
	require.Equal(t, 2*minBackoff, c.backoff)

	// A run of prompt yields shows the move worked: the spacing starts over.
	now = yields(c, lateRun, prompt, now)
	require.Zero(t, c.backoff)
	now = now.Add(2 * minBackoff)
	yields(c, lateRun, late, now)
	require.Equal(t, 3, moves)
	require.Equal(t, minBackoff, c.backoff)
}

func TestCrowdingBacksOffWhenMovesDoNotHelp(t *testing.T) {
	moves := 0
	c := &Crowding{Move: func() bool { moves++; return true }}
	now := time.Unix(1000, 0)
	// An oversubscribed machine: every yield is late, for 30 s.
	for end := now.Add(30 * time.Second); now.Before(end); {
		now = yields(c, lateRun, 50*time.Microsecond, now)
	}
	require.Equal(t, maxBackoff, c.backoff)
	// 10, 20, ... ms up to 2 s, then one every 2 s: about 22 moves in 30 s
	// (not one per run of late yields: there were about 9000 runs).
	require.Less(t, moves, 30)
	require.Greater(t, moves, 10)
}

func TestCrowdingRecordsTheCPUAtMostEveryMillisecond(t *testing.T) {
	seen := 0
	c := &Crowding{Move: func() bool { return false }, Seen: func() { seen++ }}
	now := time.Unix(1000, 0)
	now = yields(c, 1, time.Microsecond, now)
	require.Equal(t, 1, seen, "the first yield records the CPU")
	// 10 ms of yields of 1 µs (2 µs of clock each): about 10 more, not 5000.
	yields(c, 5000, time.Microsecond, now)
	require.InDelta(t, 11, seen, 1)
}
