package queue

import (
	"runtime"
	"sync"
	"weak"

	"github.com/shmpar/shmpar/shm"
)

// mapping is this process's state for one mapping of a queue or pipe
// segment, shared by the handles over it (a segment from Create, Open or
// OpenPipe has one handle, or two for the ends of NewPipe; a segment from
// the shm.Attach cache has every handle decoded from a reference to it).
// It holds the sides of the segment's rings and the mapping's token, which
// tells the mapping apart from the others of this process in a lock word.
type mapping struct {
	refs  int // handles using it; under mappings.Mutex
	tok   uint64
	sides [2][2]*side // [ring][0 put, 1 get]
}

// mappings is the registry of mappings, keyed weakly by segment: an entry
// goes when its last handle is closed, or when the segment is collected
// (decoded handles are often never closed; their segment stays in the
// Attach cache until its file is gone).
var mappings = struct {
	sync.Mutex
	m    map[weak.Pointer[shm.Segment]]*mapping
	used [64]bool // tokens in use (token 0 means none)
}{m: map[weak.Pointer[shm.Segment]]*mapping{}}

// fenceless says this process registered for asymmetric fences: its bias
// holders enter with plain stores and rely on revokers' fences. Set once,
// under mappings' lock, before the first side is made.
var (
	fenceless     bool
	fenceRegister sync.Once
)

// mappingFor returns the mapping of seg, creating it for rings rings with
// the given control blocks, and counts one more handle on it.
func mappingFor(seg *shm.Segment, ctls []*ctl) *mapping {
	fenceRegister.Do(func() { fenceless = registerFences() })
	key := weak.Make(seg)
	mappings.Lock()
	defer mappings.Unlock()
	if m := mappings.m[key]; m != nil {
		m.refs++
		return m
	}
	m := &mapping{refs: 1}
	for t := 1; t < len(mappings.used); t++ {
		if !mappings.used[t] {
			mappings.used[t] = true
			m.tok = uint64(t)
			break
		}
	}
	id := self&lwProc | m.tok<<lwTokShift
	for i, c := range ctls {
		m.sides[i][0] = &side{mu: &c.putMu, cs: &c.putCS, streak: &c.putStreak, ack: &c.putAck, id: id, fenced: !fenceless}
		m.sides[i][1] = &side{mu: &c.getMu, cs: &c.getCS, streak: &c.getStreak, ack: &c.getAck, id: id, fenced: !fenceless}
	}
	mappings.m[key] = m
	runtime.AddCleanup(seg, func(k weak.Pointer[shm.Segment]) {
		mappings.Lock()
		defer mappings.Unlock()
		if m := mappings.m[k]; m != nil {
			// The segment was collected with handles never closed: its
			// mapping is gone, so its lock words cannot be touched. A
			// bias left to this token is harmless: no critical section
			// can be in flight, and a later mapping given the token
			// inherits the bias consistently.
			delete(mappings.m, k)
			mappings.used[m.tok] = false
		}
	}, key)
	return m
}

// release counts one handle fewer on the mapping of seg. The last one gives
// up the mapping's biases (its critical sections are over: the caller waited
// for them) and its token.
func (m *mapping) release(seg *shm.Segment) {
	mappings.Lock()
	defer mappings.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	for _, ring := range m.sides {
		for _, s := range ring {
			if s != nil {
				s.local.Lock()
				s.drop()
				s.local.Unlock()
			}
		}
	}
	key := weak.Make(seg)
	if mappings.m[key] == m {
		delete(mappings.m, key)
		mappings.used[m.tok] = false
	}
}
