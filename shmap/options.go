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

// Option changes how Create, CreateAnon and Open work.
type Option func(*options)

// Dir places a named map in dir instead of shm.DefaultDir() (see shm.Dir).
// A directory on a disk file system keeps the map across reboots.
func Dir(dir string) Option { return func(o *options) { o.seg = append(o.seg, shm.Dir(dir)) } }

// Mode sets the permission bits of a new map's file (default 0600; see
// shm.Mode).
func Mode(perm os.FileMode) Option {
	return func(o *options) { o.seg = append(o.seg, shm.Mode(perm)) }
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
