package shm

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// attached is the process-wide cache behind Attach, keyed by cleaned path.
// Each segment is stamped with the cache's clock when Attach returns it
// (see TrimAttached). Lock order: attached.mu before Segment.mu.
var attached = struct {
	mu    sync.Mutex
	segs  map[string]*Segment
	stamp map[string]uint64
	clock uint64
}{segs: map[string]*Segment{}, stamp: map[string]uint64{}}

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
// ReleaseUnlinked, or an Attach of the same path, finds their file gone, or
// TrimAttached closes them to bound the cache.
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
				attached.clock++
				attached.stamp[key] = attached.clock
				return s, nil
			}
			s.Close()
		}
		delete(attached.segs, key)
		delete(attached.stamp, key)
	}
	s, err := openPath(key, strings.HasPrefix(key, "/proc/"), allow)
	if err != nil {
		return nil, fmt.Errorf("attach segment %s: %w", key, err)
	}
	if s.name == "" {
		s.name = filepath.Base(key)
	}
	if attachPrefault.Load() {
		prefault(s.f, s.mm)
	}
	attached.segs[key] = s
	attached.clock++
	attached.stamp[key] = attached.clock
	return s, nil
}

// attachPrefault is PrefaultAttached's setting.
var attachPrefault atomic.Bool

// PrefaultAttached sets whether Attach, when it maps a segment that lives in
// memory (tmpfs, a memfd), fills this process's page tables for all of it at
// once (Linux 5.14 and later; elsewhere, or on a file on disk, pages are
// mapped as they are touched, as without it). Page tables are per process:
// without it a process pays a page fault, about a microsecond, the first
// time it touches each 4 KiB page of a segment. An engine worker of a team
// that has more workers than CPUs turns it on: there the blocks of a
// worker that is not running are taken by another, which would otherwise
// fault in those pages again, job after job, until every worker has touched
// every page. The cost is paid once per process and segment: the time to
// map the pages and the page tables themselves (2 MiB per GiB mapped).
func PrefaultAttached(on bool) { attachPrefault.Store(on) }

// AttachClock returns the Attach cache's clock: every Attach stamps the
// segment it returns with a later value. A caller that is about to attach
// the segments of one use (an engine worker decoding a job's arguments)
// reads it first, and passes it to TrimAttached afterwards to keep them.
func AttachClock() uint64 {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	return attached.clock
}

// TrimAttached closes segments of the Attach cache, least recently
// returned by Attach first, until at most max remain, but never one that
// Attach returned after clock mark (see AttachClock); it returns how many
// it closed. Each cached segment holds a file descriptor and a mapping, so
// a process that attaches ever more segments bounds what it keeps this
// way. Like ReleaseUnlinked it must not run while a segment it could close
// is in use; a closed segment is opened again by its next Attach.
func TrimAttached(max int, mark uint64) int {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	n := 0
	for len(attached.segs) > max {
		oldest, at := "", uint64(0)
		for key, st := range attached.stamp {
			if st <= mark && (oldest == "" || st < at) {
				oldest, at = key, st
			}
		}
		if oldest == "" {
			break // the rest are in use
		}
		attached.segs[oldest].Close()
		delete(attached.segs, oldest)
		delete(attached.stamp, oldest)
		n++
	}
	return n
}

// Attached returns how many segments the Attach cache holds.
func Attached() int {
	attached.mu.Lock()
	defer attached.mu.Unlock()
	return len(attached.segs)
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
			delete(attached.stamp, key)
			continue
		}
		if s.gone() {
			s.Close()
			delete(attached.segs, key)
			delete(attached.stamp, key)
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
		delete(attached.stamp, key)
	}
}
