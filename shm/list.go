package shm

import (
	"errors"
	"fmt"
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
	// told (creator pid 0, "unknown" in the format; not Linux; /proc
	// unreadable) it is true, so that Sweep never removes a segment it
	// cannot prove abandoned.
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
// a word, while damaged segments are listed with Info.Err set. Running out
// of descriptors (EMFILE) is an error, never a shorter list. Names are
// returned as they are in the directory, which other tools may have given
// any bytes but '/' and NUL: quote them before printing.
func List(opts ...Option) ([]Info, error) {
	o := getOptions(opts)
	var out []Info
	if err := scan(o.dir, func(info Info, _ os.FileInfo) { out = append(out, info) }); err != nil {
		return out, fmt.Errorf("list segments in %s: %w", o.dir, err)
	}
	return out, nil
}

// Sweep removes the abandoned segments in the directory given by Dir
// (default DefaultDir()), the ones leaked by processes killed before they
// could Unlink, and returns what it removed. A segment is abandoned when
// its creator is dead (pid and start time, so a reused pid is not taken for
// it) and it is not marked FlagPersistent. Sweep leaves alone damaged
// segments, segments whose creator is unknown (pid 0) or cannot be looked
// up, files whose names ValidateName refuses, and foreign segments unless
// AllowForeign is given. With DryRun it only returns what it would remove.
//
// A name is removed only while it refers to the file that was checked, so a
// live segment that took the name meanwhile is never removed (see the
// package doc, Sweep, for how, and for what a crash at each step leaves).
// Sweep also finishes what a removal by a process that died left behind,
// and removes an abandoned segment that a remover holds at a private name.
// A segment another remover removed first is not an error, and not
// returned. Removal errors are joined into the returned error; Sweep goes
// on past them.
func Sweep(opts ...Option) ([]Info, error) {
	o := getOptions(opts)
	removeMu.Lock()
	defer removeMu.Unlock()
	var removed []Info
	var errs []error
	if !o.dryRun {
		r, err := finishRemovals(o)
		removed, errs = r, err
	}
	err := scan(o.dir, func(info Info, fi os.FileInfo) {
		if !abandoned(info, o) {
			return
		}
		if p, ok := parsePrivate(info.Name); ok {
			// An abandoned segment another remover holds aside (in
			// progress, or left there when its name was taken again):
			// removed here as at its name; that remover is told another
			// won. Reported under its name, with its private Path.
			info.Name = p.name
		}
		if o.dryRun {
			removed = append(removed, info)
			return
		}
		if err := removeCheckedLocked(info.Path, fi); err != nil {
			if !errors.Is(err, ErrNotExist) { // gone or replaced: not ours to remove
				errs = append(errs, fmt.Errorf("remove %s: %w", quotePath(info.Path), err))
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

// abandoned reports whether Sweep removes the segment info describes. A
// segment at a private name (held aside by a remover, see removeChecked)
// is judged under the name it was taken from.
func abandoned(info Info, o options) bool {
	name := info.Name
	if p, ok := parsePrivate(name); ok {
		name = p.name
	}
	return info.Err == nil && !info.Alive && info.Meta.Flags&FlagPersistent == 0 &&
		(!info.Foreign || o.allowForeign) && ValidateName(name) == nil
}

// finishRemovals finishes the removals that processes now dead (or this
// one) left at private names in o.dir. The caller holds removeMu.
func finishRemovals(o options) ([]Info, []error) {
	dir := o.dir
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil // scan reports it
	}
	self := proc.Self()
	var removed []Info
	var errs []error
	for _, e := range entries {
		p, ok := parsePrivate(e.Name())
		if !ok {
			continue
		}
		if p.owner != self {
			if alive, err := proc.Alive(p.owner); alive || err != nil {
				continue // in progress, or cannot tell
			}
		}
		info, err := finishPrivate(dir, e.Name(), p, o)
		if err != nil {
			errs = append(errs, err)
		}
		if info != nil {
			removed = append(removed, *info)
		}
	}
	return removed, errs
}

// scan calls fn for each shmpar segment in dir, with the FileInfo of the
// file it checked, which stays open until fn returns (so that its inode
// number is not given to another file meanwhile).
func scan(dir string, fn func(Info, os.FileInfo)) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fdLimit(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, fi, f, ok, err := inspect(e.Name(), path)
		if err != nil {
			return err // out of descriptors or memory: the listing would be incomplete
		}
		if ok {
			fn(info, fi)
		}
		if f != nil {
			f.Close()
		}
	}
	return nil
}

// inspect checks the file at path; ok is false when it is not a shmpar
// segment or cannot be read. err is set only when the process ran out of
// descriptors or memory, so that it could not tell. The caller closes f
// when it is not nil.
func inspect(name, path string) (info Info, fi os.FileInfo, f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDONLY|openNoFollow|syscall.O_NONBLOCK, 0) // a FIFO must not block
	if err != nil {
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM) {
			return info, nil, nil, false, fdLimit(err)
		}
		return info, nil, nil, false, nil // vanished, not ours to read, or now a symbolic link
	}
	fi, err = f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return info, nil, f, false, nil
	}
	info = Info{Name: name, Path: path, Size: fi.Size(), Foreign: foreignReason(fi) != ""}
	m, _, err := validate(f, fi.Size())
	if errors.Is(err, ErrBadMagic) {
		return info, nil, f, false, nil
	}
	if err != nil {
		info.Err = fmt.Errorf("segment %s: %w", quotePath(path), err)
		return info, fi, f, true, nil
	}
	info.Meta = m
	if m.CreatorPID == 0 {
		info.Alive = true // unknown creator: never proven dead
		return info, fi, f, true, nil
	}
	alive, aerr := proc.Alive(proc.ID{PID: m.CreatorPID, Start: m.CreatorStart})
	info.Alive = alive || aerr != nil
	return info, fi, f, true, nil
}
