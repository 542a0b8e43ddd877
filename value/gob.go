package value

import (
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/shm"
)

// GobEncode encodes the Value as a reference to its segment (kind, type and
// path); nothing is copied.
func (v *Value[T]) GobEncode() ([]byte, error) {
	if v == nil || v.seg == nil {
		return nil, errors.New("encode value: nil or closed")
	}
	return shm.RefOf(v.seg).MarshalBinary()
}

// GobDecode attaches to the segment named by an encoded reference through
// shm.Attach (one mapping per process, shared by every decoded Value). It
// returns ErrType if the reference is to another kind or type.
func (v *Value[T]) GobDecode(b []byte) error {
	var r shm.Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	if want := shm.DTypeFor[T](); r.Kind != shm.KindValue || r.DType != want {
		return fmt.Errorf("decode value: %w: %s refers to a %s %s, decoded as a %s value", ErrType, r.Path, r.DType, r.Kind, want)
	}
	seg, err := shm.AttachRef(b, shm.KindValue, shm.DTypeFor[T]())
	if err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	d, err := wrap[T](seg, true)
	if err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	*v = *d
	return nil
}
