//go:build linux

package shm

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// benchDir returns /dev/shm when it is a writable tmpfs, else a temporary
// directory, so that the figures are for memory, not a disk.
func benchDir(b *testing.B) string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return b.TempDir()
}

var mib = Meta{DType: Uint8, Shape: []int{1 << 20}, Kind: KindRaw}

// BenchmarkCreateOpenClose measures the life of a 1 MiB segment: create
// (with fallocate), open from a second handle, close both, unlink.
func BenchmarkCreateOpenClose(b *testing.B) {
	dir := benchDir(b)
	name := "shm-bench-" + strconv.Itoa(os.Getpid())
	b.Cleanup(func() { os.Remove(filepath.Join(dir, name)) })
	b.SetBytes(1 << 20)
	for b.Loop() {
		s, err := Create(name, mib, Dir(dir))
		if err != nil {
			b.Fatal(err)
		}
		o, err := Open(name, Dir(dir))
		if err != nil {
			b.Fatal(err)
		}
		o.Close()
		s.Close()
		if err := Unlink(name, Dir(dir)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAttach compares opening a 1 MiB segment (validate + map +
// unmap) with a cached Attach, which is what a worker pays per argument.
func BenchmarkOpenAttach(b *testing.B) {
	dir := benchDir(b)
	name := "shm-bench-attach-" + strconv.Itoa(os.Getpid())
	s, err := Create(name, mib, Dir(dir))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close(); s.Unlink(); releaseAll() })
	b.Run("Open", func(b *testing.B) {
		for b.Loop() {
			o, err := Open(name, Dir(dir))
			if err != nil {
				b.Fatal(err)
			}
			o.Close()
		}
	})
	b.Run("Attach", func(b *testing.B) {
		for b.Loop() {
			if _, err := Attach(s.Path()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReleaseUnlinked", func(b *testing.B) {
		if _, err := Attach(s.Path()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			ReleaseUnlinked()
		}
	})
}
