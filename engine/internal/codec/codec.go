package codec

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Type is what the codec knows of one type.
type Type struct {
	T reflect.Type

	// Zero is the zero value of T, boxed (nil for an interface type).
	Zero any

	// Empty reports that T has size zero: its values carry no information
	// and travel as zero bytes (gob refuses empty structs).
	Empty bool

	// Stable reports that values of T may be compared with == and that
	// equal values encode to equal bytes: no pointers but shared-memory
	// handles, no slices, maps or interfaces.
	Stable bool

	// Plain reports that T holds no handles (no custom marshalers) and no
	// interfaces: equal encodings mean equal values, and gob cannot fail on
	// some values only.
	Plain bool

	// Flat reports that values of T can be copied byte for byte between
	// processes of the same binary with the same result as a gob round
	// trip (see Flat).
	Flat bool

	// Err is non-nil when values of T can never be encoded: it names the
	// part that cannot (a chan, a func, a struct with no exported fields).
	Err error
}

// Of analyses t.
func Of(t reflect.Type) *Type {
	c := &Type{
		T:      t,
		Empty:  t.Size() == 0 && t.Kind() != reflect.Interface,
		Stable: Stable(t),
		Plain:  Plain(t),
		Flat:   Flat(t),
	}
	if t.Kind() != reflect.Interface {
		c.Zero = reflect.Zero(t).Interface()
	}
	if !c.Flat {
		c.Err = Check(t)
	}
	return c
}

// Encode appends the encoding of v, a value of c.T (or nil, for its zero
// value), to buf[:0]. An empty type and nil encode to no bytes.
func (c *Type) Encode(v any, buf *bytes.Buffer) error {
	buf.Reset()
	if c.Empty || v == nil {
		return nil
	}
	if c.T.Kind() == reflect.Interface {
		// gob sends an interface value with its registered type name only
		// when it sees the interface type itself: encode a pointer to it.
		p := reflect.New(c.T)
		p.Elem().Set(reflect.ValueOf(v))
		return gob.NewEncoder(buf).EncodeValue(p)
	}
	return gob.NewEncoder(buf).Encode(v)
}

// Decode decodes bytes written by Encode into a value of c.T; no bytes
// decode to the zero value.
func (c *Type) Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return c.Zero, nil
	}
	p := reflect.New(c.T)
	if err := gob.NewDecoder(bytes.NewReader(b)).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("decode a %s: %w", c.T, err)
	}
	return p.Elem().Interface(), nil
}

var (
	gobEncoderType  = reflect.TypeFor[gob.GobEncoder]()
	binMarshalType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType = reflect.TypeFor[encoding.TextMarshaler]()
	pathType        = reflect.TypeFor[interface{ Path() string }]()
)

// Marshals reports whether gob encodes t with its own method (GobEncode,
// MarshalBinary or MarshalText) instead of walking it.
func Marshals(t reflect.Type) bool {
	for _, it := range []reflect.Type{gobEncoderType, binMarshalType, textMarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// Check walks t the way gob will and returns an error naming the first
// part that can never be encoded: a chan, a func, an unsafe.Pointer, or a
// struct with no exported fields. Types gob may still refuse at run time
// (an interface holding an unregistered type) pass here and fail in
// Encode.
func Check(t reflect.Type) error {
	if t.Size() == 0 && t.Kind() != reflect.Interface {
		return nil // travels as zero bytes
	}
	if err := walkEncodable(t, t.String(), map[reflect.Type]bool{}); err != nil {
		return fmt.Errorf("type %s: %s; values cross between processes with encoding/gob", t, err)
	}
	return nil
}

func walkEncodable(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if Marshals(t) {
		return nil
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return fmt.Errorf("%s is a %s", path, t.Kind())
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return walkEncodable(t.Elem(), path+"[elem]", seen)
	case reflect.Map:
		if err := walkEncodable(t.Key(), path+"[key]", seen); err != nil {
			return err
		}
		return walkEncodable(t.Elem(), path+"[value]", seen)
	case reflect.Struct:
		exported := 0
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			exported++
			if err := walkEncodable(f.Type, path+"."+f.Name, seen); err != nil {
				return err
			}
		}
		if exported == 0 {
			return fmt.Errorf("%s (%s) has no exported fields", path, t)
		}
	}
	return nil
}

// Stable reports whether values of t can be compared with == without
// panicking and encode to the same bytes whenever they compare equal: no
// slices, maps, interfaces, funcs or chans, and no pointers except handles
// to shared memory (a pointer type with GobEncode and Path methods, such as
// *array.Array[T], which encodes as its immutable path).
func Stable(t reflect.Type) bool { return stable(t, map[reflect.Type]bool{}) }

func stable(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return stable(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !stable(t.Field(i).Type, seen) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		return t.Implements(gobEncoderType) && t.Implements(pathType)
	}
	return false
}

// Plain reports whether t holds only data: no type with its own marshaling
// methods and no interfaces, anywhere inside.
func Plain(t reflect.Type) bool { return plain(t, map[reflect.Type]bool{}) }

func plain(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	if Marshals(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return plain(t.Elem(), seen)
	case reflect.Map:
		return plain(t.Key(), seen) && plain(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !plain(t.Field(i).Type, seen) {
				return false
			}
		}
	}
	return true
}

// Flat reports whether values of t can be copied byte for byte between
// processes of the same binary with the same result as a gob round trip:
// numbers and bools, and arrays and structs of them whose fields are all
// exported (gob would skip an unexported field), with no marshaling methods
// of their own.
func Flat(t reflect.Type) bool {
	if Marshals(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return Flat(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() || !Flat(f.Type) {
				return false
			}
		}
		return true
	}
	return false
}
