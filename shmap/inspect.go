package shmap

import (
	"fmt"
	"unsafe"

	"github.com/shmpar/shmpar/shm"
)

// Info describes a map without knowing its key and value types: what Inspect
// reads from the map's header and its counts.
type Info struct {
	KeyType    string // the key type's name as its creator spelled it ("uint64", "main.Point")
	ValueType  string // the value type's name
	StringKeys bool   // keys are strings of at most KeySize bytes
	KeySize    int    // bytes of a key, or the longest string key
	ValueSize  int    // bytes of a value
	Capacity   int    // keys the map can hold
	Len        int    // keys in the map, as Map.Len counts them
	Stripes    int    // locks its writers share
	Version    int    // the map's layout version
}

// Inspect reads the header of the map in seg, a segment of kind
// shm.KindMap, and counts its keys, as a tool that lists segments
// (shmctl) does: it needs no key or value type and changes nothing. It
// returns an error wrapping ErrNotMap, ErrVersion or ErrCorrupt when seg
// holds no map it can read.
func Inspect(seg *shm.Segment) (Info, error) {
	meta := seg.Meta()
	if meta.Kind != shm.KindMap || meta.DType != shm.Uint8 {
		return Info{}, fmt.Errorf("inspect %s: %w: a segment of kind %s (%s)", seg.Path(), ErrNotMap, meta.Kind, meta.DType)
	}
	data := seg.Data()
	if len(data) < headerSize {
		return Info{}, fmt.Errorf("inspect %s: %w: a data region of %d bytes cannot hold the %d-byte map header", seg.Path(), ErrNotMap, len(data), headerSize)
	}
	var hb [headerSize]byte
	putNative(hb[:], magicWord(data).Load())
	copy(hb[8:], data[8:headerSize])
	h, err := parseHeader(hb[:], len(data))
	if err != nil {
		return Info{}, fmt.Errorf("inspect %s: %w", seg.Path(), err)
	}
	t := newTable(unsafe.Pointer(unsafe.SliceData(data)), h)
	return Info{
		KeyType:    h.keyName,
		ValueType:  h.valName,
		StringKeys: h.stringKey,
		KeySize:    h.keySize,
		ValueSize:  h.valSize,
		Capacity:   h.capacity,
		Len:        t.count(),
		Stripes:    h.stripes,
		Version:    Version,
	}, nil
}
