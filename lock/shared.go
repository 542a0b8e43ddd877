package lock

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/shmpar/shmpar/shm"
)

// A primitive placed with Place is memory, not a reference: a *Mutex given
// to gob would have to be decoded into memory the receiver allocates, which
// no other process maps. The Shared types below are the references. Each
// holds a pointer to its primitive (embedded, so the primitive's methods are
// the handle's) and the anonymous segment the primitive lives in, in the
// segment's lock area. A Shared handle travels through encoding/gob (process
// arguments, pool tasks, For kernels) as a reference to that segment and the
// primitive's offset in it; the receiver attaches the segment (shm.AttachRef,
// one mapping per process) and gets a handle to the same primitive.

// sharedMagic starts an encoded handle, so that foreign bytes fail to decode.
const sharedMagic = "shmpar-lock/1"

// The segment behind a Shared handle: raw bytes, no data, only the trailer
// and its lock area.
var sharedMeta = shm.Meta{DType: shm.Uint8, Shape: []int{0}, Kind: shm.KindRaw}

// handle is what every Shared type holds besides its primitive.
type handle struct {
	seg    *shm.Segment
	owned  bool        // created by a New function: Close closes seg
	closed atomic.Bool // Close was called
}

// newSegment creates the anonymous segment of a new Shared primitive named
// what ("mutex").
func newSegment(what string) (*shm.Segment, error) {
	seg, err := shm.CreateAnon("lock."+what, sharedMeta)
	if err != nil {
		return nil, fmt.Errorf("new %s: %w", what, err)
	}
	return seg, nil
}

// newPrimitive creates the anonymous segment of a new Shared primitive named
// what and places a T at offset 0 of its lock area.
func newPrimitive[T Mutex | RWMutex | Semaphore | Barrier | Event | Cond | RLock](what string) (*T, *shm.Segment, error) {
	seg, err := newSegment(what)
	if err != nil {
		return nil, nil, err
	}
	p, err := Place[T](seg.Locks(), 0)
	if err != nil {
		_ = seg.Close()
		return nil, nil, fmt.Errorf("new %s: %w", what, err)
	}
	return p, seg, nil
}

// close closes the segment of a handle that created it.
func (h *handle) close(what string) error {
	if h.closed.Swap(true) || !h.owned || h.seg == nil {
		return nil
	}
	if err := h.seg.Close(); err != nil {
		return fmt.Errorf("close %s: %w", what, err)
	}
	return nil
}

func (h *handle) path() string {
	if h.seg == nil {
		return ""
	}
	return h.seg.Path()
}

// encode returns the reference to the primitive named what at offset 0 of
// the handle's segment: "shmpar-lock/1 WHAT 0 " and the encoded shm.Ref.
func (h *handle) encode(what string) ([]byte, error) {
	if h.seg == nil || h.closed.Load() {
		return nil, fmt.Errorf("encode %s: nil or closed", what)
	}
	ref, err := shm.RefOf(h.seg).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", what, err)
	}
	return sharedRef{what: what, ref: ref}.format(), nil
}

// decodeHandle attaches to the segment named by b, a reference to a
// primitive named what written by encode, and places the T it refers to.
func decodeHandle[T Mutex | RWMutex | Semaphore | Barrier | Event | Cond | RLock](what string, b []byte) (*T, *shm.Segment, error) {
	seg, off, err := decodeRef(what, b)
	if err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w", what, err)
	}
	p, err := Place[T](seg.Locks(), off)
	if err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w", what, err)
	}
	return p, seg, nil
}

// decoded makes h the handle of segment seg, attached by a decoder.
func (h *handle) decoded(seg *shm.Segment) {
	h.seg, h.owned = seg, false
	h.closed.Store(false)
}

// sharedRef is a parsed encoded handle: the primitive's name, its offset in
// the segment's lock area, and the segment's reference, still encoded.
type sharedRef struct {
	what string
	off  int
	ref  []byte
}

// parseShared parses an encoded handle without attaching anything. Bytes
// that are not one give an error wrapping ErrInvalid.
func parseShared(b []byte) (sharedRef, error) {
	fields := bytes.SplitN(b, []byte(" "), 4)
	if len(fields) != 4 || string(fields[0]) != sharedMagic {
		return sharedRef{}, fmt.Errorf("%w: not an encoded lock (no %q magic)", ErrInvalid, sharedMagic)
	}
	what := string(fields[1])
	if !knownShared(what) {
		return sharedRef{}, fmt.Errorf("%w: unknown primitive %q", ErrInvalid, what)
	}
	off, err := strconv.Atoi(string(fields[2]))
	if err != nil || off < 0 || off >= shm.LockAreaSize || strconv.Itoa(off) != string(fields[2]) {
		return sharedRef{}, fmt.Errorf("%w: bad offset %q", ErrInvalid, fields[2])
	}
	var r shm.Ref
	if err := r.UnmarshalBinary(fields[3]); err != nil {
		return sharedRef{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if r.Kind != sharedMeta.Kind || r.DType != sharedMeta.DType {
		return sharedRef{}, fmt.Errorf("%w: %s is a %s %s segment, not a lock's", ErrInvalid, r.Path, r.DType, r.Kind)
	}
	return sharedRef{what: what, off: off, ref: fields[3]}, nil
}

// format encodes r again: parseShared(r.format()) == r.
func (r sharedRef) format() []byte {
	return append([]byte(sharedMagic+" "+r.what+" "+strconv.Itoa(r.off)+" "), r.ref...)
}

// decodeRef parses an encoded handle of a primitive named what and attaches
// its segment. Bytes that are not such a reference give an error wrapping
// ErrInvalid.
func decodeRef(what string, b []byte) (*shm.Segment, int, error) {
	r, err := parseShared(b)
	if err != nil {
		return nil, 0, err
	}
	if r.what != what {
		return nil, 0, fmt.Errorf("%w: the bytes encode a *lock.Shared%s, not a *lock.Shared%s", ErrInvalid, typeNameOf(r.what), typeNameOf(what))
	}
	seg, err := shm.AttachRef(r.ref, sharedMeta.Kind, sharedMeta.DType)
	if err != nil {
		return nil, 0, err
	}
	return seg, r.off, nil
}

func knownShared(what string) bool {
	switch what {
	case "mutex", "rwmutex", "semaphore", "event", "barrier", "cond", "rlock":
		return true
	}
	return false
}

// errMemory is the error of GobEncode on a primitive itself.
func errMemory(what, handle, ctor string) error {
	return fmt.Errorf("encode %s: a *lock.%s is the lock's memory, not a reference to it, and cannot cross to another process: "+
		"pass a *lock.%s (lock.%s) instead: %w", what, typeNameOf(what), handle, ctor, errors.ErrUnsupported)
}

func typeNameOf(what string) string {
	switch what {
	case "rwmutex":
		return "RWMutex"
	case "rlock":
		return "RLock"
	}
	return string(what[0]-'a'+'A') + what[1:]
}
