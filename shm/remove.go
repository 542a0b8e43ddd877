package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/shmpar/shmpar/internal/proc"
)

// Linux has no "unlink this name if it still is that file", so a remover
// that checks a file and then unlinks its name can remove another file that
// took the name in between: a live segment. removeChecked closes that gap by
// moving the name aside first (rename is atomic: it takes whatever is at the
// name) to a private name, checking that what it took is the file it
// checked, and only then unlinking the private name; a file it took by
// mistake goes back. See the Sweep section of the package doc for what a
// crash at each step leaves.

// privatePrefix starts the private names removeChecked moves a file to:
// ".shmpar-rm.PID.START.INO.NAME", PID and START naming the removing
// process (hexadecimal), INO the inode it checked (hexadecimal), NAME the
// name it removes. ValidateName refuses names with this prefix, so no
// segment can be created under one.
const privatePrefix = ".shmpar-rm."

// maxPrivateOverhead is the longest the private name adds to a name: the
// prefix, a 22-bit pid, two 64-bit numbers in hexadecimal and three dots.
// With file names of up to 255 bytes it leaves room for MaxNameLen.
const maxPrivateOverhead = len(privatePrefix) + 6 + 1 + 16 + 1 + 16 + 1

// maxRemovableName is the longest name removeChecked can move aside.
const maxRemovableName = 255 - maxPrivateOverhead

// removeMu serializes the checked removals of this process, so that while a
// goroutine holds it no private name of this process is in use, and Sweep
// may put back or finish what an earlier removal of this process left.
var removeMu sync.Mutex

// removeHook, when set (by tests), is called at each step of removeChecked:
// "checked" before the name is moved aside (path is the name's path),
// "moved" after (path is the private path). A test process pauses in it.
var removeHook func(step, path string)

// openedHook, when set (by tests), is called by Open between opening the
// file at path and reading what /proc says about it.
var openedHook func(path string)

// asideHook, when set (by tests), is called when a segment's Unlink finds
// its file at the private name path, before it takes it from there.
var asideHook func(path string)

// privateName returns the private name for moving name (whose checked file
// has inode ino) aside.
func privateName(name string, ino uint64) string {
	self := proc.Self()
	return privatePrefix + strconv.FormatUint(uint64(self.PID), 16) + "." + strconv.FormatUint(self.Start, 16) + "." +
		strconv.FormatUint(ino, 16) + "." + name
}

// privateFile is a parsed private name.
type privateFile struct {
	owner proc.ID // the process that moved the file aside
	ino   uint64  // the inode it had checked
	name  string  // the name it was removing
}

// parsePrivate parses a private name; ok is false for any other name.
func parsePrivate(entry string) (p privateFile, ok bool) {
	rest, ok := strings.CutPrefix(entry, privatePrefix)
	if !ok {
		return p, false
	}
	parts := strings.SplitN(rest, ".", 4)
	if len(parts) != 4 || parts[3] == "" {
		return p, false
	}
	pid, err1 := strconv.ParseUint(parts[0], 16, 31)
	start, err2 := strconv.ParseUint(parts[1], 16, 64)
	ino, err3 := strconv.ParseUint(parts[2], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil || pid == 0 {
		return p, false
	}
	return privateFile{owner: proc.ID{PID: int(pid), Start: start}, ino: ino, name: parts[3]}, true
}

// errReplaced says that the name was found to belong to another file than
// the one checked; nothing was removed.
var errReplaced = fmt.Errorf("%w: the name now belongs to another file; not removed", ErrNotExist)

// removeChecked removes the name path while it refers to the file checked
// describes, and never another file's name. The caller must keep the
// checked file open until it returns, so that its inode number cannot be
// given to a new file meanwhile. It returns an error wrapping ErrNotExist
// when the name is gone or belongs to another file, or when another remover
// took the file from the private name it was moved to (another remover
// won). path may itself be a private name where a remover holds the file
// (a segment's own Unlink takes it from there); the file then moves aside
// under the name it was taken from.
func removeChecked(path string, checked os.FileInfo) error {
	removeMu.Lock()
	defer removeMu.Unlock()
	return removeCheckedLocked(path, checked)
}

func removeCheckedLocked(path string, checked os.FileInfo) error {
	ino, ok := fileIno(checked)
	if !ok {
		return errors.ErrUnsupported
	}
	dir, name := filepath.Split(path)
	if p, ok := parsePrivate(name); ok {
		// A segment's own Unlink takes its file from the private name a
		// remover holds it at: it moves aside under the segment's name.
		name = p.name
	}
	if len(name) > maxRemovableName {
		return fmt.Errorf("the name is %d bytes long, more than the %d that can be removed safely; remove it with rm", len(name), maxRemovableName)
	}
	// Cheap first look: most replaced names are seen here.
	if cur, err := os.Lstat(path); err != nil {
		return openErr(err)
	} else if !os.SameFile(cur, checked) {
		return errReplaced
	}
	private := filepath.Join(dir, privateName(name, ino))
	if removeHook != nil {
		removeHook("checked", path)
	}
	err := renameAway(path, private)
	if errors.Is(err, fs.ErrExist) {
		// An earlier removal of this process left a file at this very
		// private name (its checked inode number has been reused): finish
		// it, then move aside.
		if p, ok := parsePrivate(filepath.Base(private)); ok {
			if _, ferr := finishPrivate(dir, filepath.Base(private), p, options{}); ferr != nil {
				return ferr
			}
		}
		err = renameAway(path, private)
	}
	if err != nil {
		return openErr(err) // gone: another remover was first
	}
	if removeHook != nil {
		removeHook("moved", private)
	}
	cur, err := os.Lstat(private)
	if err != nil {
		// Taken from the private name by the segment's own Unlink (see
		// Segment.Unlink): another remover won.
		return openErr(err)
	}
	if os.SameFile(cur, checked) {
		if err := os.Remove(private); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return openErr(err) // another remover won, as above
			}
			return fmt.Errorf("remove %s, where the file was moved to be removed: %w", private, err)
		}
		return nil
	}
	// The name had been given to another file, and we took it: put it back.
	if err := renameBack(private, path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// Its owner's Unlink took it from the private name: not ours.
			return errReplaced
		}
		return fmt.Errorf("%w: the name was given to another file while this one was being removed, and that file, moved aside, cannot be put back because yet another file took the name meanwhile (%w); it stays at %s: its segment's own Unlink removes it there, and a Sweep once its creator is dead (or, for a segment Sweep keeps, puts it back once the name is free)", ErrNotExist, err, private)
	}
	return errReplaced
}

// finishPrivate finishes what a removal left at the private name entry of
// dir when its process died (or, for this process, returned early): the
// file it had checked is removed, any other file is put back under its
// name, or, when another file has the name now and the one aside is an
// abandoned segment (see Sweep), removed. It returns what it removed (nil
// if nothing), and an error when the file can neither go back nor be
// removed. The caller holds removeMu, and has checked that the owner is
// dead or is this process.
func finishPrivate(dir, entry string, p privateFile, o options) (*Info, error) {
	path := filepath.Join(dir, entry)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, nil // finished by another sweeper meanwhile
	}
	if ino, ok := fileIno(fi); ok && ino == p.ino && fi.Mode().IsRegular() {
		// The file the dead remover had checked and meant to remove.
		info, _, f, ok, _ := inspect(p.name, path)
		if f != nil {
			f.Close()
		}
		if err := os.Remove(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, nil
			}
			return nil, fmt.Errorf("finish the removal of %s: %w", quotePath(path), err)
		}
		if !ok {
			info = Info{Name: p.name, Path: path, Size: fi.Size()}
		}
		return &info, nil
	}
	// A file taken by mistake: it goes back.
	err = renameBack(path, filepath.Join(dir, p.name))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil, nil // put back, by us or by another sweeper meanwhile
	}
	if errors.Is(err, fs.ErrExist) {
		// Another file took the name meanwhile. An abandoned segment is
		// removed where it is, as it would be at its name.
		info, cfi, f, ok, ierr := inspect(p.name, path)
		if ierr == nil && ok && abandoned(info, o) {
			rerr := removeCheckedLocked(path, cfi)
			f.Close()
			switch {
			case rerr == nil:
				return &info, nil
			case errors.Is(rerr, ErrNotExist):
				return nil, nil // taken by another remover
			}
			err = rerr
		} else if f != nil {
			f.Close()
		}
	}
	return nil, fmt.Errorf("put %s back as %s: %w", quotePath(path), quotePath(p.name), err)
}

// quotePath returns path as it is when it is printable, and quoted
// otherwise: names found in a directory may hold anything but '/' and NUL.
func quotePath(path string) string {
	if q := strconv.Quote(path); q[1:len(q)-1] == path {
		return path
	}
	return strconv.Quote(path)
}
