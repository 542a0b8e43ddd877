package spin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type count struct{ n int }

func (c *count) Yielded(time.Duration, time.Time) { c.n++ }

func TestUntil(t *testing.T) {
	n := 0
	require.True(t, Until(time.Second, 4, func() bool { n++; return n == 100 }))
	require.Equal(t, 100, n)
	require.False(t, Until(time.Millisecond, 4, func() bool { return false }), "gives up after d")
	require.False(t, Until(0, 4, func() bool { return false }), "d ≤ 0 polls once")
	require.True(t, Until(-1, 4, func() bool { return true }))

	var c count
	n = 0
	require.True(t, Watch(time.Second, 4, func() bool { n++; return n == 10 }, &c))
	require.Equal(t, 10-1-4, c.n, "a yield after each poll past the first 4")
}
