package shm

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// Ref names a segment for another process: the path to open and the kind and
// element type the receiver expects to find there. It is how an array or a
// value inside a kernel's arguments crosses to a worker: by reference, with
// no element copied.
type Ref struct {
	Kind  Kind
	DType DType
	Path  string
}

// refMagic starts an encoded Ref, so that foreign bytes fail to decode.
const refMagic = "shmpar-ref/1"

// maxRefPath bounds the path of an encoded Ref.
const maxRefPath = 4096

// RefOf returns a reference to s.
func RefOf(s *Segment) Ref {
	m := s.Meta()
	return Ref{Kind: m.Kind, DType: m.DType, Path: s.Path()}
}

// MarshalBinary encodes r as "shmpar-ref/1 KIND DTYPE PATH".
func (r Ref) MarshalBinary() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return []byte(refMagic + " " + r.Kind.String() + " " + r.DType.String() + " " + r.Path), nil
}

// UnmarshalBinary decodes a reference written by MarshalBinary. It returns
// an error wrapping ErrInvalid for anything else.
func (r *Ref) UnmarshalBinary(b []byte) error {
	fields := bytes.SplitN(b, []byte(" "), 4)
	if len(fields) != 4 || string(fields[0]) != refMagic {
		return fmt.Errorf("shm: %w: not a segment reference", ErrInvalid)
	}
	var d Ref
	kind, ok := parseKind(string(fields[1]))
	if !ok {
		return fmt.Errorf("shm: %w: segment reference with unknown kind %q", ErrInvalid, fields[1])
	}
	dt, err := ParseDType(string(fields[2]))
	if err != nil || dt.String() != string(fields[2]) {
		return fmt.Errorf("shm: %w: segment reference with unknown dtype %q", ErrInvalid, fields[2])
	}
	d.Kind, d.DType, d.Path = kind, dt, string(fields[3])
	if err := d.check(); err != nil {
		return err
	}
	*r = d
	return nil
}

func (r Ref) check() error {
	switch {
	case !r.Kind.Valid():
		return fmt.Errorf("shm: %w: reference to a segment of kind %s", ErrInvalid, r.Kind)
	case !r.DType.Valid():
		return fmt.Errorf("shm: %w: reference to a segment of dtype %s", ErrInvalid, r.DType)
	case r.Path == "" || len(r.Path) > maxRefPath || !filepath.IsAbs(r.Path) || strings.ContainsRune(r.Path, 0):
		return fmt.Errorf("shm: %w: reference path %q is not an absolute path of at most %d bytes", ErrInvalid, r.Path, maxRefPath)
	}
	return nil
}

func parseKind(s string) (Kind, bool) {
	for k := KindRaw; k < numKinds; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// AttachRef decodes an encoded Ref, checks that it names a segment of the
// given kind and element type, and attaches to it through Attach (one
// mapping per process). A reference to another kind or type is an error
// wrapping ErrInvalid that names both; the segment itself is checked again
// after opening, so a file replaced behind the reference is caught too.
func AttachRef(b []byte, kind Kind, dtype DType) (*Segment, error) {
	var r Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if r.Kind != kind || r.DType != dtype {
		return nil, fmt.Errorf("shm: %w: %s is a %s %s segment, wanted %s %s", ErrInvalid, r.Path, r.DType, r.Kind, dtype, kind)
	}
	s, err := Attach(r.Path)
	if err != nil {
		return nil, err
	}
	if m := s.Meta(); m.Kind != kind || m.DType != dtype {
		return nil, fmt.Errorf("shm: %w: %s is now a %s %s segment, wanted %s %s", ErrInvalid, r.Path, m.DType, m.Kind, dtype, kind)
	}
	return s, nil
}
