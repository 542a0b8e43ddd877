package shmap

import (
	"os"

	"github.com/shmpar/shmpar/shm"
)

type options struct {
	seg       []shm.Option
	maxKeyLen int
	stripes   int
}

// Option changes how Create, CreateAnon and Open work. Each says which of
// them it applies to; the others ignore it.
type Option func(*options)

// Dir places a named map in dir instead of shm.DefaultDir() (see shm.Dir).
// A directory on a disk file system keeps the map across reboots.
func Dir(dir string) Option { return func(o *options) { o.seg = append(o.seg, shm.Dir(dir)) } }

// Mode sets the permission bits of a new map's file (default 0600; see
// shm.Mode). A mode that lets group or others write (0o660, 0o666) makes
// the map foreign: Open refuses it, in this process too, unless given
// AllowForeign.
func Mode(perm os.FileMode) Option {
	return func(o *options) { o.seg = append(o.seg, shm.Mode(perm)) }
}

// AllowForeign makes Open accept a map whose file belongs to another user,
// or whose mode lets group or others write it: a map shared between users
// on purpose, such as one created with Mode(0o660). Without it Open refuses
// such a file with an error wrapping shm.ErrForeign, since whoever may write
// the file may truncate it under every process that maps it (see
// shm.AllowForeign). A map accepted this way, or created with such a Mode,
// carries the opt-in when it crosses to another process by gob, so a worker
// attaches what its sender accepted.
func AllowForeign() Option {
	return func(o *options) { o.seg = append(o.seg, shm.AllowForeign()) }
}

// Persistent marks a new map's segment so that shm.Sweep never removes it
// (see shm.Persistent).
func Persistent() Option { return func(o *options) { o.seg = append(o.seg, shm.Persistent()) } }

// MaxKeyLen sets the longest string key, in bytes, a new map with string
// keys holds (default DefaultMaxKeyLen; at most MaxKeySize-8). Every entry
// reserves that many bytes for its key. Open reads it from the file and
// ignores the option, as do maps whose keys are not strings.
func MaxKeyLen(n int) Option { return func(o *options) { o.maxKeyLen = n } }

// Stripes sets the number of locks a new map's writers share (default
// DefaultStripes, at most one per bucket and at most MaxStripes). Writers
// of keys in different stripes never wait for each other; more stripes cost
// a 64-byte line each. Open ignores it.
func Stripes(n int) Option { return func(o *options) { o.stripes = n } }

func getOptions(opts []Option) options {
	o := options{maxKeyLen: DefaultMaxKeyLen, stripes: DefaultStripes}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
