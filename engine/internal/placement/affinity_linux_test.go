//go:build linux

package placement

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// lockThread locks the test's goroutine to its thread until the test ends
// and restores the thread's affinity mask then; it returns the mask.
func lockThread(t *testing.T) unix.CPUSet {
	t.Helper()
	runtime.LockOSThread()
	var own unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &own))
	t.Cleanup(func() {
		_ = unix.SchedSetaffinity(0, &own)
		runtime.UnlockOSThread()
	})
	return own
}

// MoveTo moves the thread to the lowest CPU it may use that is neither its
// own nor avoided, restores its mask, and stays put when there is none.
// (Which CPU the thread is on when MoveTo looks is up to the OS, which may
// migrate it at any time: the test reads it from MoveTo's result.)
func TestMoveTo(t *testing.T) {
	cpus := Allowed()
	if len(cpus) < 2 {
		t.Skip("needs 2 CPUs to move between")
	}
	own := lockThread(t)

	var one unix.CPUSet
	one.Set(cpus[0])
	require.NoError(t, unix.SchedSetaffinity(0, &one))
	for _, avoid := range [][]int{nil, cpus[1:]} {
		from, to := MoveTo(avoid)
		require.Equal(t, cpus[0], from, "the mask holds one CPU")
		require.Equal(t, -1, to, "no other CPU in the mask")
	}
	var after unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &after))
	require.Equal(t, one, after)

	require.NoError(t, unix.SchedSetaffinity(0, &own))
	from, to := MoveTo(nil)
	require.Contains(t, cpus, from)
	want := cpus[0]
	if want == from {
		want = cpus[1]
	}
	require.Equal(t, want, to, "the lowest other CPU")
	require.NoError(t, unix.SchedGetaffinity(0, &after))
	require.Equal(t, own, after, "the mask is restored")

	from, to = MoveTo(cpus)
	require.Contains(t, cpus, from)
	require.Equal(t, -1, to, "every other CPU is avoided")
}

// pick chooses the lowest CPU of the mask that is neither the thread's nor
// avoided.
func TestPick(t *testing.T) {
	var m unix.CPUSet
	for _, c := range []int{1, 3, 4, 70} {
		m.Set(c)
	}
	for _, c := range []struct {
		cpu   int
		avoid []int
		want  int
	}{
		{3, nil, 1},
		{1, nil, 3},
		{1, []int{3}, 4},
		{1, []int{3, 4}, 70},
		{70, []int{1, 3, 4}, -1},
		{0, []int{1, 3, 4, 70}, -1},
		{0, []int{2, 5}, 1},
	} {
		require.Equal(t, c.want, pick(&m, c.cpu, c.avoid), "cpu %d, avoid %v", c.cpu, c.avoid)
	}
	var empty unix.CPUSet
	require.Equal(t, -1, pick(&empty, 0, nil))
}
