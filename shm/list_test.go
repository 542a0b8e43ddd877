//go:build linux

package shm

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func infoNames(infos []Info) []string {
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b", "a", "c"} {
		s, err := Create(name, Meta{DType: Int16, Shape: []int{len(name) * 10}, Kind: KindArray}, Dir(dir))
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
	p, err := Create("persist", f64, Dir(dir), Persistent())
	require.NoError(t, err)
	require.NoError(t, p.Close())
	// Not segments: skipped without a word.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "text"), []byte("hello"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain.npy"), plainNpy(10), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o700))
	require.NoError(t, os.Symlink(filepath.Join(dir, "a"), filepath.Join(dir, "link")))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	// A damaged segment: listed with Err.
	d, err := Create("damaged", f64, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NoError(t, os.Truncate(d.Path(), 5000))

	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "damaged", "persist"}, infoNames(infos))
	for _, in := range infos {
		require.Equal(t, filepath.Join(dir, in.Name), in.Path)
		if in.Name == "damaged" {
			require.ErrorIs(t, in.Err, ErrTruncated)
			require.ErrorContains(t, in.Err, in.Path)
			require.EqualValues(t, 5000, in.Size)
			continue
		}
		require.NoError(t, in.Err)
		require.True(t, in.Alive, in.Name)
		require.Equal(t, os.Getpid(), in.Meta.CreatorPID)
		fi, err := os.Stat(in.Path)
		require.NoError(t, err)
		require.Equal(t, fi.Size(), in.Size)
	}
	require.Equal(t, []int{10}, infos[0].Meta.Shape)
	require.Equal(t, Int16, infos[0].Meta.DType)
	require.Equal(t, FlagPersistent, infos[4].Meta.Flags)

	_, err = List(Dir(filepath.Join(dir, "missing")))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestSweepAfterKill(t *testing.T) {
	dir := t.TempDir()
	mine, err := Create("mine", f64, Dir(dir)) // a live creator: kept
	require.NoError(t, err)
	defer mine.Close()

	c := startChild(t, "create-and-wait", []string{"SHM_DIR=" + dir})
	require.Equal(t, "ready", c.Line(t))
	// Before the kill nothing is swept: the creator lives.
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, removed)

	require.NoError(t, c.Kill())
	_, err = c.Wait()
	require.Error(t, err)

	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"kept", "leaked", "mine"}, infoNames(infos))
	alive := map[string]bool{}
	for _, in := range infos {
		alive[in.Name] = in.Alive
	}
	require.Equal(t, map[string]bool{"kept": false, "leaked": false, "mine": true}, alive)

	removed, err = Sweep(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"leaked"}, infoNames(removed))
	require.Equal(t, c.PID(), removed[0].Meta.CreatorPID)
	names := dirNames(t, dir)
	require.Equal(t, []string{"kept", "mine"}, names)
	require.False(t, slices.Contains(names, "leaked"))

	removed, err = Sweep(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, removed)
}

func TestSweepReusedPID(t *testing.T) {
	dir := t.TempDir()
	s, err := Create("reused", f64, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	// Rewrite the trailer as if an earlier process with our pid had made it.
	m := s.Meta()
	m.CreatorStart++
	rewrite(t, s.Path(), func(b []byte) []byte {
		copy(b[DataOffset+81920:], encodeTrailer(m))
		return b
	})
	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Len(t, infos, 1)
	require.False(t, infos[0].Alive, "same pid, other start time: a different process")
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Len(t, removed, 1)
	require.Empty(t, dirNames(t, dir))
}
