//go:build !linux

package shm

import (
	"errors"
	"os"
)

// openNoFollow is not used off Linux, where Create fails anyway.
const openNoFollow = 0

var errNoTmpfile = errors.New("O_TMPFILE not supported")

func createTmp(dir string, perm os.FileMode) (*os.File, error) { return nil, errNoTmpfile }

func linkTmp(f *os.File, path string) error { return errors.ErrUnsupported }

func fallocate(f *os.File, size int64) error { return errors.ErrUnsupported }

// isNotSupported is false so that Create reports ErrUnsupported from
// fallocate rather than falling back to writing zeros.
func isNotSupported(err error) bool { return false }

func isNoSpace(err error) bool { return false }

func isLoop(err error) bool { return false }

func memfdCreate(label string) (*os.File, error) { return nil, errors.ErrUnsupported }

func sealSize(f *os.File) error { return errors.ErrUnsupported }

func dupFile(f *os.File) (*os.File, error) { return nil, errors.ErrUnsupported }

func nlink(fi os.FileInfo) uint64 { return 1 }

func fdPath(f *os.File) string { return f.Name() }

func describeFD(f *os.File) (memfd bool, label, file string) { return false, "", "" }

func stillAt(path string, fi os.FileInfo) bool {
	cur, err := os.Stat(path)
	return err == nil && os.SameFile(cur, fi)
}

func fileOwner(fi os.FileInfo) (uid int, ok bool) { return 0, false }

func fullyAllocated(f *os.File, fi os.FileInfo) bool { return false }

func firstHole(f *os.File) (int64, error) { return 0, errors.ErrUnsupported }

func allocatedBytes(fi os.FileInfo) (int64, bool) { return 0, false }

func fileIno(fi os.FileInfo) (uint64, bool) { return 0, false }

func renameAway(old, new string) error { return errors.ErrUnsupported }

func renameBack(old, new string) error { return errors.ErrUnsupported }

// prefault does nothing here: pages are faulted in as they are touched.
func prefault(f *os.File, mm []byte) {}
