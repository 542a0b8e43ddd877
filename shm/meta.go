package shm

import (
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// Meta describes a segment: what its data holds and who made it. Create
// takes the first four fields from the caller and fills in the rest; Open
// reads all of them from the file.
type Meta struct {
	DType DType // element type of the data
	Shape []int // C-order dimensions; nil or empty for a 0-d array (one element)
	Kind  Kind  // what the segment is for
	Flags Flags // FlagPersistent, ...

	CreatorPID   int       // pid of the creating process
	CreatorStart uint64    // its start time in clock ticks since boot (see internal/proc)
	Created      time.Time // when it was created, to the nanosecond
}

// Len returns the number of elements: the product of Shape, 1 for a 0-d
// array, 0 if any dimension is 0. For a shape Create would refuse (a
// negative dimension, or a product that overflows) it returns -1.
func (m Meta) Len() int {
	n, err := shapeLen(m.Shape)
	if err != nil || n > uint64(maxInt) {
		return -1
	}
	return int(n)
}

// DataBytes returns the size of the data region in bytes, Len() times the
// element size, or -1 when Len is -1 or the product overflows.
func (m Meta) DataBytes() int64 {
	n, err := shapeLen(m.Shape)
	if err != nil {
		return -1
	}
	hi, lo := bits.Mul64(n, uint64(m.DType.Size()))
	if hi != 0 || lo > uint64(maxInt64) {
		return -1
	}
	return int64(lo)
}

const (
	maxInt   = int(^uint(0) >> 1)
	maxInt64 = int64(^uint64(0) >> 1)
)

// shapeLen returns the product of shape, with an error for a negative
// dimension or an overflow of uint64.
func shapeLen(shape []int) (uint64, error) {
	n := uint64(1)
	overflow := false
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension %d at index %d of shape %v", ErrTooLarge, d, i, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			overflow = true
		}
		n = lo
	}
	if slices.Contains(shape, 0) {
		return 0, nil // empty, however large the other dimensions
	}
	if overflow {
		return 0, fmt.Errorf("%w: the product of shape %v overflows", ErrTooLarge, shape)
	}
	return n, nil
}

// dataBytes returns the size of the data region for dtype d and shape, with
// an error wrapping ErrTooLarge for a negative dimension, an overflow or a
// size over MaxDataBytes. d must be valid.
func dataBytes(d DType, shape []int) (int64, error) {
	n, err := shapeLen(shape)
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(n, uint64(d.Size()))
	if hi != 0 || lo > MaxDataBytes {
		return 0, fmt.Errorf("%w: shape %v of %s needs more than MaxDataBytes (%d bytes)", ErrTooLarge, shape, d, int64(MaxDataBytes))
	}
	return int64(lo), nil
}

// checkMeta returns an error when Create cannot write m: an invalid DType,
// Kind or flag (ErrInvalid), too many dimensions (ErrInvalid), or a bad size
// (ErrTooLarge). On success it returns the data size.
func checkMeta(m Meta) (int64, error) {
	switch {
	case !m.DType.Valid():
		return 0, fmt.Errorf("%w: dtype %s is not an element type", ErrInvalid, m.DType)
	case !m.Kind.Valid():
		return 0, fmt.Errorf("%w: unknown %s", ErrInvalid, m.Kind)
	case m.Flags&^knownFlags != 0:
		return 0, fmt.Errorf("%w: unknown flags %#x", ErrInvalid, uint32(m.Flags&^knownFlags))
	case len(m.Shape) > MaxDims:
		return 0, fmt.Errorf("%w: shape %v has %d dimensions, at most %d are supported", ErrInvalid, m.Shape, len(m.Shape), MaxDims)
	}
	return dataBytes(m.DType, m.Shape)
}

// clone returns m with its own copy of Shape (nil for 0-d).
func (m Meta) clone() Meta {
	if len(m.Shape) == 0 {
		m.Shape = nil
	} else {
		m.Shape = slices.Clone(m.Shape)
	}
	return m
}
