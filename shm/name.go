package shm

import (
	"fmt"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest segment name ValidateName accepts, in bytes.
const MaxNameLen = 200

// ValidateName returns an error wrapping ErrBadName when name cannot name a
// segment. A valid name is
//
//   - not empty, ".", or "..";
//   - at most MaxNameLen bytes of valid UTF-8;
//   - made of printable characters only, as unicode.IsPrint defines them:
//     letters, marks, numbers, punctuation, symbols and the ASCII space.
//     So no '/', no NUL, no control character (newline, tab, escape, DEL,
//     C1), no other space or separator (no-break space, line separator), no
//     format character (zero-width joiner, bidirectional overrides), no
//     private-use or unassigned code point;
//   - not starting with ".shmpar-rm.", the prefix of the private names a
//     segment is moved to while it is being removed (see Sweep).
//
// A valid name is one file name inside the segment directory, so it can
// never escape it, and printing it can never forge or hide a line of a
// listing. Files made by other tools may still carry any name; List
// returns them as they are (quote them before printing, as shmctl ls does).
func ValidateName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case name == "." || name == "..":
		reason = "is a directory reference"
	case len(name) > MaxNameLen:
		reason = fmt.Sprintf("is %d bytes long, the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		reason = "is not valid UTF-8"
	case strings.HasPrefix(name, privatePrefix):
		reason = "starts with " + privatePrefix + ", which is reserved for segments being removed"
	default:
		reason = badRune(name)
	}
	if reason == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrBadName, name, reason)
}

// badRune says which rune of the valid UTF-8 name ValidateName refuses, or
// returns "" when it refuses none.
func badRune(name string) string {
	for i, r := range name {
		switch {
		case r == '/':
			return "contains '/'"
		case r == 0:
			return "contains a NUL byte"
		case !unicode.IsPrint(r):
			return fmt.Sprintf("contains the non-printable character %U at byte %d", r, i)
		}
	}
	return ""
}

// DefaultDir returns the directory named segments live in when no Dir option
// is given: $SHMPAR_DIR if set, else /dev/shm.
func DefaultDir() string {
	if d := os.Getenv("SHMPAR_DIR"); d != "" {
		return d
	}
	return "/dev/shm"
}

type options struct {
	dir          string
	mode         os.FileMode
	persistent   bool
	allowForeign bool
	dryRun       bool
}

// Option changes how Create, Open, Unlink, List and Sweep work.
type Option func(*options)

// Dir places named segments in dir instead of DefaultDir(). Any directory
// works; one on a disk file system keeps its segments across reboots.
func Dir(dir string) Option { return func(o *options) { o.dir = dir } }

// Mode sets the permission bits Create gives a new segment file (default
// 0600). Only perm.Perm() is used, and it is applied exactly, without the
// process umask, because a caller who asks for 0660 wants group access. A
// mode that lets group or others write makes the segment foreign: Open
// refuses it, in this process too, unless given AllowForeign.
func Mode(perm os.FileMode) Option { return func(o *options) { o.mode = perm.Perm() } }

// AllowForeign makes Open, OpenFile, Attach and Sweep accept foreign
// segment files: files owned by another user, or whose mode lets group or
// others write them. Without it they are refused with ErrForeign (Sweep
// leaves them alone), because whoever may write a file may truncate it, and
// a truncated file kills every process that maps it with SIGBUS at its next
// access to a lost page. Pass it only for files whose writers you trust.
// Anonymous segments (memfds) are never foreign: they are sealed against
// resizing. It has no effect on Create, List and Unlink.
func AllowForeign() Option { return func(o *options) { o.allowForeign = true } }

// Persistent makes Create set FlagPersistent, so that Sweep never removes the
// segment. It has no effect on the other calls.
func Persistent() Option { return func(o *options) { o.persistent = true } }

// DryRun makes Sweep remove nothing and return what it would remove. It has
// no effect on the other calls.
func DryRun() Option { return func(o *options) { o.dryRun = true } }

func getOptions(opts []Option) options {
	o := options{mode: 0o600}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.dir == "" {
		o.dir = DefaultDir()
	}
	return o
}
