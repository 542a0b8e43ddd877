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

// BenchmarkOpenSize measures Open (check, reserve, map, unmap) of a segment
// that is fully allocated, by size and file system: what the allocation
// check on open costs where nothing is missing. Beside it, the two system
// calls the check could use on the whole file, as baselines: fallocate
// (allocates what is missing) and lseek(SEEK_HOLE) (finds the first hole).
func BenchmarkOpenSize(b *testing.B) {
	dirs := []struct{ name, dir string }{{"tmpfs", benchDir(b)}, {"disk", b.TempDir()}}
	for _, d := range dirs {
		for _, mb := range []int{1, 16, 256} {
			m := Meta{DType: Uint8, Shape: []int{mb << 20}, Kind: KindRaw}
			name := "shm-bench-open-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(mb)
			s, err := Create(name, m, Dir(d.dir))
			if err != nil {
				b.Fatal(err)
			}
			prefix := "fs=" + d.name + "/size=" + strconv.Itoa(mb) + "MiB/"
			b.Run(prefix+"Open", func(b *testing.B) {
				for b.Loop() {
					o, err := Open(name, Dir(d.dir))
					if err != nil {
						b.Fatal(err)
					}
					o.Close()
				}
			})
			fd := int(s.File().Fd())
			size := int64(len(s.mm))
			b.Run(prefix+"fallocate", func(b *testing.B) {
				for b.Loop() {
					if err := unix.Fallocate(fd, 0, 0, size); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(prefix+"seek_hole", func(b *testing.B) {
				for b.Loop() {
					if _, err := unix.Seek(fd, 0, unix.SEEK_HOLE); err != nil {
						b.Fatal(err)
					}
				}
			})
			s.Close()
			if err := s.Unlink(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
