package testproc

import (
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Mappings finds a fresh mapping (of a memfd: an anonymous one could merge
// with its neighbours) by its start, with its file, its size and the pages
// touched so far.
func TestMappings(t *testing.T) {
	page := os.Getpagesize()
	fd, err := unix.MemfdCreate("testproc-mappings", 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NoError(t, unix.Ftruncate(fd, int64(16*page)))
	mem, err := unix.Mmap(fd, 0, 16*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(mem)
	rss := func() int64 {
		ms, err := Mappings(os.Getpid())
		require.NoError(t, err)
		for _, m := range ms {
			if m.Start == uintptr(unsafe.Pointer(&mem[0])) {
				require.Equal(t, int64(16*page), m.Size)
				require.Equal(t, "/memfd:testproc-mappings (deleted)", m.Path)
				return m.Rss
			}
		}
		t.Fatal("the mapping is not listed")
		return 0
	}
	require.Zero(t, rss(), "nothing touched yet")
	for i := range 4 {
		mem[i*page] = 1
	}
	require.Equal(t, int64(4*page), rss())
}
