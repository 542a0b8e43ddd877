package shm

import (
	"fmt"
	"os"
	"strings"
)

// MaxNameLen is the longest segment name ValidateName accepts, in bytes.
const MaxNameLen = 200

// ValidateName returns an error wrapping ErrBadName when name cannot name a
// segment: it is empty, "." or "..", contains '/' or a NUL byte, or is longer
// than MaxNameLen bytes. A valid name is one file name inside the segment
// directory, so it can never escape it.
func ValidateName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "empty"
	case name == "." || name == "..":
		reason = "is a directory reference"
	case strings.IndexByte(name, '/') >= 0:
		reason = "contains '/'"
	case strings.IndexByte(name, 0) >= 0:
		reason = "contains a NUL byte"
	case len(name) > MaxNameLen:
		reason = fmt.Sprintf("is %d bytes long, the limit is %d", len(name), MaxNameLen)
	default:
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrBadName, name, reason)
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
	dir        string
	mode       os.FileMode
	persistent bool
}

// Option changes how Create, Open, Unlink, List and Sweep work.
type Option func(*options)

// Dir places named segments in dir instead of DefaultDir(). Any directory
// works; one on a disk file system keeps its segments across reboots.
func Dir(dir string) Option { return func(o *options) { o.dir = dir } }

// Mode sets the permission bits Create gives a new segment file (default
// 0600). Only perm.Perm() is used, and it is applied exactly, without the
// process umask, because a caller who asks for 0660 wants group access.
func Mode(perm os.FileMode) Option { return func(o *options) { o.mode = perm.Perm() } }

// Persistent makes Create set FlagPersistent, so that Sweep never removes the
// segment. It has no effect on the other calls.
func Persistent() Option { return func(o *options) { o.persistent = true } }

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
