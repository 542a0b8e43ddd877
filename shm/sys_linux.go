//go:build linux

package shm

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNoFollow makes open fail with ELOOP on a symbolic link.
const openNoFollow = unix.O_NOFOLLOW

// errNoTmpfile says the directory's file system has no O_TMPFILE.
var errNoTmpfile = errors.New("O_TMPFILE not supported")

// createTmp opens an unnamed regular file in dir (O_TMPFILE), to be given
// its name by linkTmp once it is complete.
func createTmp(dir string, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, uint32(perm))
	switch {
	case err == unix.EOPNOTSUPP || err == unix.EISDIR || err == unix.EINVAL:
		return nil, errNoTmpfile
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// linkTmp gives the O_TMPFILE file f the name path. Like O_CREAT|O_EXCL it
// fails with EEXIST when anything, a symbolic link included, is at path.
func linkTmp(f *os.File, path string) error {
	fd := int(f.Fd())
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil && err != unix.EEXIST {
		// No /proc: linking by descriptor needs CAP_DAC_READ_SEARCH.
		if err2 := unix.Linkat(fd, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH); err2 == nil || err2 == unix.EEXIST {
			err = err2
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	return nil
}

// fallocate reserves size bytes from offset 0, extending the file.
func fallocate(f *os.File, size int64) error {
	for {
		err := unix.Fallocate(int(f.Fd()), 0, 0, size)
		if err != unix.EINTR {
			if err != nil {
				return os.NewSyscallError("fallocate", err)
			}
			return nil
		}
	}
}

func isNotSupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) || errors.Is(err, unix.ENOMEM)
}

func isLoop(err error) bool { return errors.Is(err, unix.ELOOP) }

// memfdCreate returns a new memfd labelled label that allows seals.
func memfdCreate(label string) (*os.File, error) {
	fd, err := unix.MemfdCreate(label, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+label), nil
}

// sealSize forbids any change of the memfd's size from now on, so no
// process can truncate it under another's mapping.
func sealSize(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	return os.NewSyscallError("fcntl F_ADD_SEALS", err)
}

// dupFile returns a new close-on-exec descriptor for f's open file.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// nlink returns the link count of a file from its FileInfo.
func nlink(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// fdPath returns the path other processes of the same user open to reach
// f: "/proc/<pid>/fd/<fd>".
func fdPath(f *os.File) string {
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
}

// describeFD tells what f is from its /proc/self/fd link: a memfd (with its
// label), or a file that still has the name file, or neither (deleted, or
// /proc unavailable).
func describeFD(f *os.File) (memfd bool, label, file string) {
	link, err := os.Readlink("/proc/self/fd/" + strconv.FormatUint(uint64(f.Fd()), 10))
	if err != nil {
		return false, "", ""
	}
	if l, ok := strings.CutPrefix(link, "/memfd:"); ok {
		return true, strings.TrimSuffix(l, " (deleted)"), ""
	}
	if strings.HasPrefix(link, "/") && !strings.HasSuffix(link, " (deleted)") {
		return false, "", link
	}
	return false, "", ""
}

// stillAt reports whether path leads to the file fi describes (following
// links), without allocating: it is on Attach's hot path.
func stillAt(path string, fi os.FileInfo) bool {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return false
	}
	old, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(old.Dev) == uint64(st.Dev) && uint64(old.Ino) == uint64(st.Ino)
}

// fileOwner returns the uid that owns the file fi describes.
func fileOwner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// fullyAllocated reports whether every byte of the file f (fi is its fstat)
// certainly has storage: on tmpfs, whose block count is exactly the pages a
// file holds, when that count covers the size. It is false when it cannot
// tell.
func fullyAllocated(f *os.File, fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	var sfs unix.Statfs_t
	if unix.Fstatfs(int(f.Fd()), &sfs) != nil || sfs.Type != unix.TMPFS_MAGIC {
		return false
	}
	switch alloc := st.Blocks * 512; {
	case alloc == fi.Size():
		return true
	case alloc > fi.Size(): // huge pages past the end: look for a hole
		hole, err := firstHole(f)
		return err == nil && hole >= fi.Size()
	}
	return false
}

// firstHole returns the offset of the first hole in f (its size when it has
// none, or when its file system does not track holes).
func firstHole(f *os.File) (int64, error) {
	off, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_HOLE)
	if err != nil {
		return 0, os.NewSyscallError("lseek SEEK_HOLE", err)
	}
	return off, nil
}

// allocatedBytes returns the storage allocated to the file fi describes.
func allocatedBytes(fi os.FileInfo) (int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Blocks * 512, true
}

// fileIno returns the inode number of the file fi describes.
func fileIno(fi os.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true
}

// renameAway renames old to new, a private name nothing is at. Where the
// file system takes no rename flags, a plain rename does the same.
func renameAway(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		return os.Rename(old, new)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// renameBack renames old to new unless something is at new (EEXIST). Where
// the file system takes no rename flags, it links and then unlinks old, which
// only the caller uses.
func renameBack(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL || err == unix.ENOSYS {
		if err := os.Link(old, new); err != nil {
			return err
		}
		return os.Remove(old)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// prefault fills the calling process's page tables for the mapping mm of
// the file f when f lives in memory (tmpfs, which memfds are): MADV_POPULATE_READ
// (Linux 5.14) maps every page as a read fault would, and on tmpfs, which
// does not track dirty pages, a read fault maps a shared page writable. A
// file on disk is left alone: prefaulting it would read all of it. Errors
// (an older kernel) leave the pages to be faulted in as they are touched.
func prefault(f *os.File, mm []byte) {
	var sfs unix.Statfs_t
	if len(mm) == 0 || unix.Fstatfs(int(f.Fd()), &sfs) != nil || sfs.Type != unix.TMPFS_MAGIC {
		return
	}
	_ = unix.Madvise(mm, unix.MADV_POPULATE_READ)
}
