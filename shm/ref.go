package shm

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Ref names a segment for another process: the path to open, the kind and
// element type the receiver expects to find there, and the identity of the
// segment (its creator and creation time), so that a path that has come to
// name another segment (a file re-created under the same name, or a memfd
// whose descriptor number was reused) is never taken for the one meant. It is
// how an array or a value inside a kernel's arguments crosses to a worker: by
// reference, with no element copied. Two references encode to the same bytes
// only if they name the same segment.
//
// Foreign is set when the sender holds a foreign segment file (see
// AllowForeign), which it accepted by opening it with AllowForeign or by
// creating it with a Mode that lets others write it; AttachRef then attaches
// it with AllowForeign, so that a worker accepts what its sender accepted.
type Ref struct {
	Kind    Kind
	DType   DType
	ID      SegmentID
	Path    string
	Foreign bool
}

// SegmentID identifies one segment for the life of the machine: the
// creator's pid and start time and the creation time in Unix nanoseconds.
type SegmentID struct {
	PID     int
	Start   uint64
	Created int64
}

func (id SegmentID) String() string { return fmt.Sprintf("%d.%d.%d", id.PID, id.Start, id.Created) }

func parseSegmentID(s string) (SegmentID, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return SegmentID{}, false
	}
	pid, err1 := strconv.ParseUint(parts[0], 10, 31)
	start, err2 := strconv.ParseUint(parts[1], 10, 64)
	created, err3 := strconv.ParseInt(parts[2], 10, 64)
	id := SegmentID{PID: int(pid), Start: start, Created: created}
	if err1 != nil || err2 != nil || err3 != nil || id.String() != s {
		return SegmentID{}, false
	}
	return id, true
}

func idOf(m Meta) SegmentID {
	var ns int64
	if !m.Created.IsZero() {
		ns = m.Created.UnixNano()
	}
	return SegmentID{PID: m.CreatorPID, Start: m.CreatorStart, Created: ns}
}

// refMagic starts an encoded Ref, so that foreign bytes fail to decode.
const refMagic = "shmpar-ref/1"

// maxRefPath bounds the path of an encoded Ref.
const maxRefPath = 4096

// RefOf returns a reference to s.
func RefOf(s *Segment) Ref {
	m := s.Meta()
	return Ref{Kind: m.Kind, DType: m.DType, ID: idOf(m), Path: s.Path(), Foreign: s.foreign}
}

// foreignMark precedes the path of an encoded Ref whose Foreign is set. A
// path is absolute, so it never starts with the mark.
const foreignMark = "foreign "

// MarshalBinary encodes r as "shmpar-ref/1 KIND DTYPE PID.START.CREATED PATH",
// with "foreign " before PATH when r.Foreign is set.
func (r Ref) MarshalBinary() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("encode segment reference: %w", err)
	}
	mark := ""
	if r.Foreign {
		mark = foreignMark
	}
	return []byte(refMagic + " " + r.Kind.String() + " " + r.DType.String() + " " + r.ID.String() + " " + mark + r.Path), nil
}

// UnmarshalBinary decodes a reference written by MarshalBinary. It returns
// an error wrapping ErrInvalid for anything else.
func (r *Ref) UnmarshalBinary(b []byte) error {
	fields := bytes.SplitN(b, []byte(" "), 5)
	if len(fields) != 5 || string(fields[0]) != refMagic {
		return fmt.Errorf("decode segment reference: %w: no %q magic", ErrInvalid, refMagic)
	}
	var d Ref
	kind, ok := parseKind(string(fields[1]))
	if !ok {
		return fmt.Errorf("decode segment reference: %w: unknown kind %q", ErrInvalid, fields[1])
	}
	dt, err := ParseDType(string(fields[2]))
	if err != nil || dt.String() != string(fields[2]) {
		return fmt.Errorf("decode segment reference: %w: unknown dtype %q", ErrInvalid, fields[2])
	}
	id, ok := parseSegmentID(string(fields[3]))
	if !ok {
		return fmt.Errorf("decode segment reference: %w: malformed identity %q", ErrInvalid, fields[3])
	}
	d.Kind, d.DType, d.ID, d.Path = kind, dt, id, string(fields[4])
	if p, ok := strings.CutPrefix(d.Path, foreignMark); ok {
		d.Path, d.Foreign = p, true
	}
	if err := d.check(); err != nil {
		return fmt.Errorf("decode segment reference: %w", err)
	}
	*r = d
	return nil
}

func (r Ref) check() error {
	switch {
	case !r.Kind.Valid():
		return fmt.Errorf("%w: reference to a segment of kind %s", ErrInvalid, r.Kind)
	case !r.DType.Valid():
		return fmt.Errorf("%w: reference to a segment of dtype %s", ErrInvalid, r.DType)
	case r.Path == "" || len(r.Path) > maxRefPath || !filepath.IsAbs(r.Path) || strings.ContainsRune(r.Path, 0):
		return fmt.Errorf("%w: reference path %q is not an absolute path of at most %d bytes", ErrInvalid, r.Path, maxRefPath)
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
// wrapping ErrInvalid that names both. The segment found at the path must be
// the one referred to (same identity); if the path now names another one,
// the error wraps ErrNotExist.
func AttachRef(b []byte, kind Kind, dtype DType) (*Segment, error) {
	var r Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if r.Kind != kind || r.DType != dtype {
		return nil, fmt.Errorf("attach segment %s: %w: a %s %s segment, wanted %s %s", r.Path, ErrInvalid, r.DType, r.Kind, dtype, kind)
	}
	var opts []Option
	if r.Foreign {
		opts = append(opts, AllowForeign())
	}
	s, err := Attach(r.Path, opts...)
	if err != nil {
		return nil, err
	}
	if m := s.Meta(); idOf(m) != r.ID {
		return nil, fmt.Errorf("attach segment %s: %w: the path now names another segment (created by %d at %s), not the one referred to (%s)",
			r.Path, ErrNotExist, m.CreatorPID, m.Created.Format(time.RFC3339Nano), r.ID)
	} else if m.Kind != kind || m.DType != dtype {
		return nil, fmt.Errorf("attach segment %s: %w: it is now a %s %s segment, wanted %s %s", r.Path, ErrInvalid, m.DType, m.Kind, dtype, kind)
	}
	return s, nil
}
