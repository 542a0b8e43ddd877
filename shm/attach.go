package shm

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// attached is the process-wide cache behind Attach, keyed by cleaned path.
// Lock order: attached.mu before Segment.mu.
var attached = struct {
	mu   sync.Mutex
	segs map[string]*Segment
}{segs: map[string]*Segment{}}

// Attach returns the segment at path, opening and mapping it on first use
// and returning the same *Segment on later calls with the same (cleaned)
// path. It is how worker processes resolve the Array and Value arguments of
// a job: each segment is mapped once per process, however many jobs use it.
// path may be a segment's file or the "/proc/<pid>/fd/<fd>" Path of another
// process's anonymous segment; a symbolic link is followed only under /proc.
//
// Each call checks (one stat) that path still leads to the cached file; if
// not, the stale segment is closed and the new file opened, so a reused
// descriptor number or a re-created name never yields the old mapping.
//
// The cache owns the segments it returns: callers must not Close them (a
// closed one is reopened by the next Attach). They stay mapped until
// ReleaseUnlinked, or an Attach of the same path, finds their file gone.
//
// A foreign file is refused (ErrForeign), whether it is opened now or was
// cached by an earlier call that allowed it, unless opts hold AllowForeign;
// other options are ignored. AttachRef passes AllowForeign for a reference
// whose sender had accepted a foreign file.
func Attach(path string, opts ...Option) (*Segment, error) {
	allow := getOptions(opts).allowForeign
	key := filepath.Clean(path)
	attached.mu.Lock()
	defer attached.mu.Unlock()
	if s := attached.segs[key]; s != nil {
		// A cached segment is returned only while its path still leads to
		// its file: a /proc/<pid>/fd/<fd> number is soon reused, and a name
		// may be unlinked and created again.
		if !s.isClosed() {
			if stillAt(key, s.ident) {
				if s.foreign && !allow {
					return nil, fmt.Errorf("attach segment %s: %w: %s; attach it with AllowForeign only if you trust them", key, ErrForeign, foreignReason(s.ident))
				}
				return s, nil
			}
			s.Close()
		}
		delete(attached.segs, key)
	}
	s, err := openPath(key, strings.HasPrefix(key, "/proc/"), allow)
	if err != nil {
		return nil, fmt.Errorf("attach segment %s: %w", key, err)
	}
	if s.name == "" {
		s.name = filepath.Base(key)
	}
	attached.segs[key] = s
	return s, nil
}

// ReleaseUnlinked closes the segments in the Attach cache whose file is
// gone, and returns how many it closed. A file is gone when its path no
// longer leads to it (removed, replaced by another file, or, for a
// /proc/<pid>/fd/<fd> path, the owning process closed the descriptor or
// exited) or, for a named file, its link count is 0. A memfd always has a
// link count of 0, so for it only the path counts: it is kept while its
// creator keeps it open. Engine workers call this between jobs; it must not
// run while a segment it could release is in use.
func ReleaseUnlinked() int {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	n := 0
	for key, s := range attached.segs {
		if s.isClosed() {
			delete(attached.segs, key)
			continue
		}
		if s.gone() {
			s.Close()
			delete(attached.segs, key)
			n++
		}
	}
	return n
}

// gone reports whether s's path no longer leads to its file, or its named
// file has been unlinked.
func (s *Segment) gone() bool {
	if !stillAt(s.path, s.ident) {
		return true
	}
	if s.memfd {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	fi, err := s.f.Stat()
	return err != nil || nlink(fi) == 0
}

// releaseAll closes every cached segment (for tests).
func releaseAll() {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	for key, s := range attached.segs {
		s.Close()
		delete(attached.segs, key)
	}
}
