//go:build linux

package shm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
)

func TestAttachCache(t *testing.T) {
	t.Cleanup(releaseAll)
	s, dir := newSeg(t, "cached", f64)
	fillPattern(s.Data(), 1)
	a, err := Attach(s.Path())
	require.NoError(t, err)
	require.NotSame(t, s, a)
	require.NoError(t, checkPattern(a.Data(), 1))
	require.Equal(t, "cached", a.Name())
	for _, p := range []string{s.Path(), dir + "//cached", dir + "/./cached", filepath.Join(dir, "x", "..", "cached")} {
		b, err := Attach(p)
		require.NoError(t, err)
		require.Same(t, a, b, p)
	}
	require.Zero(t, ReleaseUnlinked(), "the file is still there")

	// Closed by mistake: the next Attach reopens.
	require.NoError(t, a.Close())
	b, err := Attach(s.Path())
	require.NoError(t, err)
	require.NotSame(t, a, b)
	require.NoError(t, checkPattern(b.Data(), 1))

	// Unlinked and recreated under the same name: released, and the next
	// Attach maps the new file.
	require.NoError(t, s.Unlink())
	n, err := Create("cached", Meta{DType: Uint8, Shape: []int{3}}, Dir(dir))
	require.NoError(t, err)
	defer n.Close()
	require.Equal(t, 1, ReleaseUnlinked())
	require.Nil(t, b.Data(), "released segments are closed")
	c, err := Attach(s.Path())
	require.NoError(t, err)
	require.Equal(t, Uint8, c.Meta().DType)

	// Unlinked, nothing new: released.
	require.NoError(t, n.Unlink())
	require.Equal(t, 1, ReleaseUnlinked())
	require.Zero(t, ReleaseUnlinked())

	_, err = Attach(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, ErrNotExist)
}

// TrimAttached closes the least recently attached segments beyond its
// bound, never those attached since the caller's mark.
func TestTrimAttached(t *testing.T) {
	t.Cleanup(releaseAll)
	releaseAll()
	var segs []*Segment
	for i := range 5 {
		s, _ := newSeg(t, fmt.Sprintf("trim%d", i), f64)
		segs = append(segs, s)
	}
	var got []*Segment
	for _, s := range segs[:3] {
		a, err := Attach(s.Path())
		require.NoError(t, err)
		got = append(got, a)
	}
	_, err := Attach(segs[0].Path()) // used again: now the most recent
	require.NoError(t, err)
	mark := AttachClock()
	for _, s := range segs[3:] {
		a, err := Attach(s.Path())
		require.NoError(t, err)
		got = append(got, a)
	}
	require.Equal(t, 5, Attached())
	require.Zero(t, TrimAttached(5, mark), "within the bound")
	require.Equal(t, 2, TrimAttached(3, mark))
	require.Nil(t, got[1].Data(), "the least recently attached goes first")
	require.Nil(t, got[2].Data())
	require.NotNil(t, got[0].Data(), "attached again later")
	require.Equal(t, 1, TrimAttached(0, mark), "never those attached since mark")
	require.Nil(t, got[0].Data())
	require.NotNil(t, got[3].Data())
	require.NotNil(t, got[4].Data())
	require.Equal(t, 2, Attached())
	a, err := Attach(segs[1].Path())
	require.NoError(t, err, "a trimmed segment is attached again")
	require.NotSame(t, got[1], a)
	require.NotNil(t, a.Data())
}

func TestAttachRefusesSymlink(t *testing.T) {
	t.Cleanup(releaseAll)
	s, dir := newSeg(t, "real", f64)
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(s.Path(), link))
	_, err := Attach(link)
	require.ErrorContains(t, err, "symbolic link")
}

func TestAttachMemfdInProcess(t *testing.T) {
	t.Cleanup(releaseAll)
	s, err := CreateAnon("mine", Meta{DType: Int64, Shape: []int{100}})
	require.NoError(t, err)
	fillPattern(s.Data(), 1)
	a, err := Attach(s.Path())
	require.NoError(t, err)
	require.Equal(t, "mine", a.Name())
	require.Equal(t, s.Path(), a.Path())
	require.NoError(t, checkPattern(a.Data(), 1))
	// A memfd has no links, but while its /proc path leads to it, it stays.
	require.Zero(t, ReleaseUnlinked())
	require.NoError(t, s.Close())
	// The descriptor is closed: the path leads nowhere (or to another file).
	other, err := CreateAnon("reuses-the-fd", Meta{DType: Uint8})
	require.NoError(t, err)
	defer other.Close()
	require.Equal(t, 1, ReleaseUnlinked())
}

func TestAttachMemfdOfChild(t *testing.T) {
	t.Cleanup(releaseAll)
	c := startChild(t, "anon-hold", nil)
	path := c.Line(t)
	require.Regexp(t, `^/proc/\d+/fd/\d+$`, path)
	a, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, "held", a.Name())
	require.NoError(t, checkPattern(a.Data(), 1))
	require.Zero(t, ReleaseUnlinked())
	waitOK(t, c) // the child closes its segment and exits
	require.Equal(t, 1, ReleaseUnlinked())
}

func TestAttachNeverReturnsStale(t *testing.T) {
	t.Cleanup(releaseAll)
	a, err := CreateAnon("first", Meta{DType: Int64, Shape: []int{10}})
	require.NoError(t, err)
	path := a.Path()
	x, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, "first", x.Name())
	require.NoError(t, a.Close())
	// The next descriptor gets the same number: the path now leads to b.
	b, err := CreateAnon("second", Meta{DType: Uint8, Shape: []int{3}})
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, path, b.Path())
	y, err := Attach(path)
	require.NoError(t, err)
	require.Equal(t, "second", y.Name())
	require.Equal(t, Uint8, y.Meta().DType)
	require.Nil(t, x.Data(), "the stale segment was closed")

	// The same for a name unlinked and created again.
	s, dir := newSeg(t, "again", f64)
	x, err = Attach(s.Path())
	require.NoError(t, err)
	require.NoError(t, s.Unlink())
	n, err := Create("again", Meta{DType: Int8}, Dir(dir))
	require.NoError(t, err)
	defer n.Close()
	y, err = Attach(s.Path())
	require.NoError(t, err)
	require.Equal(t, Int8, y.Meta().DType)
	require.Nil(t, x.Data())
}

// PrefaultAttached makes Attach map every page of a segment that lives in
// memory at once; without it a fresh mapping's pages are mapped as they are
// touched (opening one reads its header and trailer, no more).
func TestPrefaultAttached(t *testing.T) {
	t.Cleanup(releaseAll)
	t.Cleanup(func() { PrefaultAttached(false) })
	const n = 1 << 18 // 2 MiB of int64: 512 pages
	for _, on := range []bool{false, true} {
		s, err := CreateAnon(fmt.Sprint("prefault-", on), Meta{DType: Int64, Shape: []int{n}})
		require.NoError(t, err)
		defer s.Close()
		PrefaultAttached(on)
		a, err := Attach(s.Path())
		require.NoError(t, err)
		rss := mappedBytes(t, a.mm)
		if on {
			require.Equal(t, int64(len(a.mm)), rss, "every page of the mapping is mapped")
		} else {
			require.Less(t, rss, int64(len(a.mm))/8, "only what opening it read is mapped")
		}
	}
}

// mappedBytes returns the Rss of this process's mapping that starts at
// mm's first byte.
func mappedBytes(t *testing.T, mm []byte) int64 {
	t.Helper()
	ms, err := testproc.Mappings(os.Getpid())
	require.NoError(t, err)
	at := uintptr(unsafe.Pointer(&mm[0]))
	for _, m := range ms {
		if m.Start == at {
			return m.Rss
		}
	}
	t.Fatalf("no mapping at %#x", at)
	return 0
}
