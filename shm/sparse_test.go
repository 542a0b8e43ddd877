//go:build linux

package shm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sparseCopy writes at dst a copy of the segment file src that holds only
// its header page and trailer, with nothing allocated in between (what
// cp --sparse=always makes of a segment whose data is zero), and returns
// the bytes of storage it was given.
func sparseCopy(t *testing.T, src, dst string) int64 {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(int64(len(b))))
	_, err = f.WriteAt(b[:DataOffset], 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b[len(b)-TrailerSize:], int64(len(b)-TrailerSize))
	require.NoError(t, err)
	return allocated(t, dst)
}

// allocated returns the storage allocated to the file at path, in bytes.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	return st.Blocks * 512
}

// fill writes 4 KiB blocks into a new file in dir until the file system is
// full, and returns the file's path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	block := make([]byte, 4096)
	for i := range block {
		block[i] = 1
	}
	for {
		if _, err := f.Write(block); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return path
		}
	}
}

func TestOpenAllocatesSparseFile(t *testing.T) {
	src, _ := newSeg(t, "src", Meta{DType: Uint8, Shape: []int{1 << 20}})
	require.NoError(t, src.Close())
	dir := t.TempDir() // a disk file system, with room
	path := filepath.Join(dir, "sparse")
	size := int64(DataOffset + 1<<20 + TrailerSize)
	require.Less(t, sparseCopy(t, src.Path(), path), size, "the copy must have holes for this test")
	s, err := Open("sparse", Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	require.GreaterOrEqual(t, allocated(t, path), size, "Open reserves what a sparse file lacks")
	fillPattern(s.Data(), 3)
	require.NoError(t, checkPattern(s.Data(), 3))
}

// TestOpenSparseOnFullTmpfs is the SIGBUS of issue 12: a sparse copy of a
// segment on a full tmpfs. A child that opens it and writes every page
// must get ErrNoSpace from Open, not die of SIGBUS; with room made, the same
// child succeeds.
func TestOpenSparseOnFullTmpfs(t *testing.T) {
	dir := tinyTmpfs(t, "size=1m")
	src, _ := newSeg(t, "src", Meta{DType: Uint8, Shape: []int{512 << 10}})
	require.NoError(t, src.Close())
	require.EqualValues(t, 2*4096, sparseCopy(t, src.Path(), filepath.Join(dir, "sparse")))
	filler := fill(t, dir)

	c := startChild(t, "open-fill", []string{"SHM_NAME=sparse", "SHM_DIR=" + dir})
	line, err := c.Wait()
	// Go reports a SIGBUS as a fatal error, exit status 2.
	if strings.Contains(c.Stderr(), "SIGBUS") {
		t.Fatalf("the child died of SIGBUS writing through the mapping Open handed out (stdout %q)", line)
	}
	require.NoError(t, err, c.Stderr())
	require.Regexp(t, `^err ErrNoSpace: open segment `+dir+`/sparse: no space for segment: 52\d+ of its 53\d+ bytes have no storage \(a sparse copy\?\), `+
		`and the file system has no room for them; writing there would fault: fallocate: no space left on device\n$`, line)

	require.NoError(t, os.Remove(filler))
	c = startChild(t, "open-fill", []string{"SHM_NAME=sparse", "SHM_DIR=" + dir})
	require.Equal(t, "ok", c.Line(t))
	waitOK(t, c)
	s, err := Open("sparse", Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, checkPattern(s.Data(), 7))
	// Now allocated, the file takes the tmpfs fast path: no fallocate.
	fi, err := s.File().Stat()
	require.NoError(t, err)
	require.True(t, fullyAllocated(s.File(), fi))
	mem, err := CreateAnon("mem", f64)
	require.NoError(t, err)
	defer mem.Close()
	fi, err = mem.File().Stat()
	require.NoError(t, err)
	require.True(t, fullyAllocated(mem.File(), fi), "a memfd is tmpfs")
}
