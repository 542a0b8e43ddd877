package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/shmpar/shmpar/internal/proc"
)

// Info describes one segment found by List or Sweep.
type Info struct {
	Name string // file name in the directory
	Path string // Dir joined with Name
	Meta Meta   // zero when Err is set
	Size int64  // file size in bytes

	// Alive reports whether the creator (CreatorPID with CreatorStart, so a
	// reused pid does not count) is still running. Where that cannot be
	// told (not Linux, /proc unreadable) it is true, so that Sweep never
	// removes a segment it cannot prove abandoned.
	Alive bool

	// Foreign reports whether the file belongs to another user or its mode
	// lets group or others write it: Open refuses it and Sweep leaves it
	// alone unless given AllowForeign.
	Foreign bool

	// Err is set for a file that looks like a shmpar segment (an npy header
	// with its data at DataOffset) but fails to open: truncated, corrupt, of
	// another format version. Such files are listed but never swept.
	Err error
}

// List returns every shmpar segment in the directory given by Dir (default
// DefaultDir()), sorted by name. It reads each regular file's first page
// and trailer without mapping anything; files that are not shmpar segments
// (other npy files included) and files it may not read are skipped without
// a word, while damaged segments are listed with Info.Err set.
func List(opts ...Option) ([]Info, error) {
	o := getOptions(opts)
	var out []Info
	if err := scan(o.dir, func(info Info, _ os.FileInfo) { out = append(out, info) }); err != nil {
		return out, fmt.Errorf("list segments in %s: %w", o.dir, err)
	}
	return out, nil
}

// Sweep removes the segments in the directory given by Dir (default
// DefaultDir()) whose creator is dead and that are not marked
// FlagPersistent nor foreign (unless AllowForeign is given), and returns
// what it removed: the segments leaked by
// processes that were killed before they could Unlink. Damaged segments are
// left alone. Removal errors are joined into the returned error; Sweep goes
// on past them.
func Sweep(opts ...Option) ([]Info, error) {
	o := getOptions(opts)
	var removed []Info
	var errs []error
	err := scan(o.dir, func(info Info, fi os.FileInfo) {
		if info.Err != nil || info.Alive || info.Meta.Flags&FlagPersistent != 0 || info.Foreign && !o.allowForeign {
			return
		}
		// Remove the name only while it still refers to the file checked.
		cur, err := os.Lstat(info.Path)
		if err != nil || !os.SameFile(cur, fi) {
			return
		}
		if err := os.Remove(info.Path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		removed = append(removed, info)
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sweep segments in %s: %w", o.dir, err)
	}
	return removed, nil
}

// scan calls fn for each shmpar segment in dir, with the FileInfo of the
// file it checked.
func scan(dir string, fn func(Info, os.FileInfo)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, fi, ok := inspect(e.Name(), path)
		if ok {
			fn(info, fi)
		}
	}
	return nil
}

// inspect checks the file at path; ok is false when it is not a shmpar
// segment or cannot be read.
func inspect(name, path string) (info Info, fi os.FileInfo, ok bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|openNoFollow|syscall.O_NONBLOCK, 0) // a FIFO must not block
	if err != nil {
		return info, nil, false // vanished, not ours to read, or now a symbolic link
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return info, nil, false
	}
	info = Info{Name: name, Path: path, Size: fi.Size(), Foreign: foreignReason(fi) != ""}
	m, _, err := validate(f, fi.Size())
	if errors.Is(err, ErrBadMagic) {
		return info, nil, false
	}
	if err != nil {
		info.Err = fmt.Errorf("segment %s: %w", path, err)
		return info, fi, true
	}
	info.Meta = m
	alive, err := proc.Alive(proc.ID{PID: m.CreatorPID, Start: m.CreatorStart})
	info.Alive = alive || err != nil
	return info, fi, true
}
