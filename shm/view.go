package shm

import (
	"fmt"
	"unsafe"
)

// View returns the data region of s as a []T with no copy, after checking
// that T has the segment's element type (DTypeFor[T]() == s.Meta().DType)
// and that the region is aligned and long enough for it. The slice is
// invalid after s.Close.
func View[T any](s *Segment) ([]T, error) {
	m := s.Meta()
	var zero T
	if want := DTypeFor[T](); want != m.DType || !want.Valid() || int(unsafe.Sizeof(zero)) != want.Size() {
		return nil, fmt.Errorf("view segment %s: %w: it holds %s, not %T", s.Path(), ErrInvalid, m.DType, zero)
	}
	n := m.Len()
	if n == 0 {
		return []T{}, nil
	}
	b := s.Data()
	if len(b) < n*int(unsafe.Sizeof(zero)) || uintptr(unsafe.Pointer(&b[0]))%unsafe.Alignof(zero) != 0 {
		return nil, fmt.Errorf("view segment %s: %w: data region is short or misaligned for %T", s.Path(), ErrInvalid, zero)
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n), nil
}
