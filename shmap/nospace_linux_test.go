package shmap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/shm"
)

// TestNoSpace creates maps on a 1 MiB file system: one too big is refused
// at Create, with nothing left behind; one that fits works.
func TestNoSpace(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	_, err := Create[uint64, uint64]("big", 100_000, Dir(dir))
	require.ErrorIs(t, err, shm.ErrNoSpace)
	require.ErrorContains(t, err, filepath.Join(dir, "big"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
	m, err := Create[uint64, uint64]("small", 1000, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, m.Store(1, 1))
	require.NoError(t, m.Close())
}
