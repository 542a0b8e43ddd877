package shmap

import (
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/shm"
)

// GobEncode encodes the map as a reference to its segment (see shm.Ref):
// no key or value is copied. This is how a Map crosses to another process
// inside a worker's or a spawned process's arguments. An anonymous map's
// reference is valid only while the encoding process keeps the map open.
func (m *Map[K, V]) GobEncode() ([]byte, error) {
	if m == nil || m.seg == nil || m.closed.Load() {
		return nil, errors.New("shmap: encode of a nil or closed Map")
	}
	return shm.RefOf(m.seg).MarshalBinary()
}

// GobDecode attaches to the map named by an encoded reference through
// shm.Attach: one mapping per process, shared by every Map decoded from the
// same reference, which Close leaves mapped. As with arrays, a decoded Map
// belongs to the call it was passed to and should not be kept after it
// (engine workers release the mappings of unlinked segments between jobs).
// The map is checked as Open checks it: a reference to anything but a map
// gives ErrNotMap, a map of other types ErrKeyType or ErrValueType.
func (m *Map[K, V]) GobDecode(b []byte) error {
	var r shm.Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("shmap: decode: %w", err)
	}
	if r.Kind != shm.KindMap || r.DType != shm.Uint8 {
		return fmt.Errorf("shmap: decode: %w: %s is a segment of kind %s (%s)", ErrNotMap, r.Path, r.Kind, r.DType)
	}
	seg, err := shm.AttachRef(b, shm.KindMap, shm.Uint8)
	if err != nil {
		return fmt.Errorf("shmap: decode: %w", err)
	}
	d, err := wrap[K, V](seg, true)
	if err != nil {
		return fmt.Errorf("shmap: decode %s: %w", seg.Path(), err)
	}
	m.t, m.seg, m.attached, m.str, m.ksize = d.t, d.seg, true, d.str, d.ksize
	m.closed.Store(false)
	return nil
}
