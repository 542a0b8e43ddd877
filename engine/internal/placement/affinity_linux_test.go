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
func TestMoveTo(t *testing.T) {
	cpus := Allowed()
	if len(cpus) < 2 {
		t.Skip("needs 2 CPUs to move between")
	}
	own := lockThread(t)

	var one unix.CPUSet
	one.Set(cpus[0])
	require.NoError(t, unix.SchedSetaffinity(0, &one))
	require.False(t, MoveTo(nil), "no other CPU in the mask")
	require.False(t, MoveTo(cpus[1:]), "no other CPU in the mask")
	var after unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &after))
	require.Equal(t, one, after)

	require.NoError(t, unix.SchedSetaffinity(0, &own))
	from := Current()
	want := cpus[0]
	if want == from {
		want = cpus[1]
	}
	require.True(t, MoveTo(nil))
	require.Equal(t, want, Current(), "the lowest other CPU")
	require.NoError(t, unix.SchedGetaffinity(0, &after))
	require.Equal(t, own, after, "the mask is restored")

	var avoid []int
	for _, c := range cpus {
		if c != Current() {
			avoid = append(avoid, c)
		}
	}
	require.False(t, MoveTo(avoid), "every other CPU is avoided")
}
