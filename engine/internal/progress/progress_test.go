package progress

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// calls records the reports of a Run.
type calls struct {
	mu  sync.Mutex
	got [][2]int
}

func (c *calls) report(done, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, [2]int{done, total})
}

func (c *calls) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func TestNilRunDoesNothing(t *testing.T) {
	r := Start(nil, 10, time.Millisecond)
	require.Nil(t, r)
	r.StepStarted(func() int { return 1 })
	r.StepOver(1)
	r.End()
}

// Without a tick (an interval longer than the test) a Run reports the start
// and, at End, the steps over plus the running one, capped at total.
func TestStartAndEnd(t *testing.T) {
	var c calls
	r := Start(c.report, 10, time.Hour)
	require.Equal(t, [][2]int{{0, 10}}, c.got, "Start reports (0, total) before it returns")
	r.StepStarted(func() int { return 4 })
	r.StepOver(4)
	r.StepStarted(func() int { return 9 })
	r.End()
	require.Equal(t, [][2]int{{0, 10}, {10, 10}}, c.got, "4 over and 9 running, capped at 10")
}

// The timer reports the count while it changes, never lower than the last
// report, and nothing after End.
func TestTicksAreMonotoneAndStopAtEnd(t *testing.T) {
	var c calls
	var live atomic.Int64
	r := Start(c.report, 100, time.Millisecond)
	r.StepStarted(func() int { return int(live.Load()) })
	live.Store(5)
	deadline := time.Now().Add(20 * time.Second)
	for c.len() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.GreaterOrEqual(t, c.len(), 2, "no tick reported the running step in 20 s")
	// A step that moves its count from live to base in two stores: the
	// count seen in between must not go back.
	r.StepOver(5)
	live.Store(0)
	r.StepStarted(func() int { return int(live.Load()) })
	live.Store(2)
	r.End()
	n := c.len()
	live.Store(3)
	r.tick() // a tick that fires after End must find the Run stopped
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Len(t, c.got, n, "no report after End")
	require.Equal(t, [2]int{0, 100}, c.got[0])
	require.Equal(t, [2]int{7, 100}, c.got[len(c.got)-1])
	for i := 1; i < len(c.got); i++ {
		require.GreaterOrEqual(t, c.got[i][0], c.got[i-1][0], "reports %v", c.got)
		if i < len(c.got)-1 { // End reports even an unchanged count
			require.Greater(t, c.got[i][0], c.got[i-1][0], "a tick reports only a change: %v", c.got)
		}
	}
}
