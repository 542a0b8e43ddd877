package array

import (
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/shm"
)

// GobEncode encodes the array as a reference to its segment (kind, element
// type and path); no element is copied.
func (a *Array[T]) GobEncode() ([]byte, error) {
	if a == nil || a.seg == nil {
		return nil, errors.New("encode array: nil or closed")
	}
	return shm.RefOf(a.seg).MarshalBinary()
}

// GobDecode attaches to the segment named by an encoded reference through
// shm.Attach (one mapping per process, shared by every decoded Array). It
// returns ErrType if the reference is to another kind or element type.
func (a *Array[T]) GobDecode(b []byte) error {
	var r shm.Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("decode array: %w", err)
	}
	if want := shm.DTypeFor[T](); r.Kind != shm.KindArray || r.DType != want {
		return fmt.Errorf("decode array: %w: %s refers to a %s %s, decoded as a %s array", ErrType, r.Path, r.DType, r.Kind, want)
	}
	seg, err := shm.AttachRef(b, shm.KindArray, shm.DTypeFor[T]())
	if err != nil {
		return fmt.Errorf("decode array: %w", err)
	}
	d, err := wrap[T](seg, true)
	if err != nil {
		return fmt.Errorf("decode array: %w", err)
	}
	*a = *d
	return nil
}
