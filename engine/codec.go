package engine

import (
	"bytes"
	"encoding"
	"encoding/gob"
	"fmt"
	"reflect"
)

// Arguments cross to worker processes encoded with encoding/gob, once per
// job (and not even that when they did not change, see argsCache). A shared
// array or value crosses as its path: its type implements gob.GobEncoder and
// gob.GobDecoder, the decoder attaching the segment in the worker
// (shm.Attach). This package does not import those types.

var (
	gobEncoderType  = reflect.TypeFor[gob.GobEncoder]()
	binMarshalType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshalType = reflect.TypeFor[encoding.TextMarshaler]()
	pathType        = reflect.TypeFor[interface{ Path() string }]()
)

// marshals reports whether gob encodes t with its own method (GobEncode,
// MarshalBinary or MarshalText) instead of walking it.
func marshals(t reflect.Type) bool {
	for _, it := range []reflect.Type{gobEncoderType, binMarshalType, textMarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// checkEncodable walks an argument type the way gob will, and returns an
// error naming the first part that can never be encoded: a chan, a func, an
// unsafe.Pointer, or a struct with no exported fields. Types gob may still
// refuse at run time (an interface holding an unregistered type) pass here
// and fail in encode.
func checkEncodable(t reflect.Type) error {
	if t.Size() == 0 && t.Kind() != reflect.Interface {
		return nil // travels as zero bytes
	}
	if err := walkEncodable(t, t.String(), map[reflect.Type]bool{}); err != nil {
		return fmt.Errorf("%w: type %s: %s; arguments cross to worker processes with encoding/gob", ErrArgsEncode, t, err)
	}
	return nil
}

func walkEncodable(t reflect.Type, path string, seen map[reflect.Type]bool) error {
	if seen[t] {
		return nil
	}
	seen[t] = true
	if marshals(t) {
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

// stableType reports whether values of t can be compared with == without
// panicking and encode to the same bytes whenever they compare equal: no
// slices, maps, interfaces, funcs or chans, and no pointers except handles
// to shared memory (a pointer type with GobEncode and Path methods, such as
// *array.Array[T], which encodes as its immutable path).
func stableType(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen == nil {
		seen = map[reflect.Type]bool{}
	}
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
		return stableType(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !stableType(t.Field(i).Type, seen) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		return t.Implements(gobEncoderType) && t.Implements(pathType)
	}
	return false
}

// plainType reports whether t holds only data: no type with its own
// marshaling methods and no interfaces, anywhere inside.
func plainType(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen == nil {
		seen = map[reflect.Type]bool{}
	}
	if seen[t] {
		return true
	}
	seen[t] = true
	if marshals(t) {
		return false
	}
	switch t.Kind() {
	case reflect.Interface:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return plainType(t.Elem(), seen)
	case reflect.Map:
		return plainType(t.Key(), seen) && plainType(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !plainType(t.Field(i).Type, seen) {
				return false
			}
		}
	}
	return true
}

// encodeArgs appends the gob encoding of v (of kernel k's argument type)
// to buf[:0].
func encodeArgs(k *kernel, v any, buf *bytes.Buffer) error {
	buf.Reset()
	if k.empty || v == nil {
		return nil // zero bytes decode to the zero value
	}
	var err error
	if k.argType.Kind() == reflect.Interface {
		// gob sends an interface value with its registered type name only
		// when it sees the interface type itself: encode a pointer to it.
		p := reflect.New(k.argType)
		p.Elem().Set(reflect.ValueOf(v))
		err = gob.NewEncoder(buf).EncodeValue(p)
	} else {
		err = gob.NewEncoder(buf).Encode(v)
	}
	if err != nil {
		return fmt.Errorf("engine: kernel %q: %w: %T: %v; arguments cross to worker processes with encoding/gob", k.name, ErrArgsEncode, v, err)
	}
	return nil
}

// decodeArgs decodes bytes written by encodeArgs into a value of k's
// argument type.
func decodeArgs(k *kernel, b []byte) (any, error) {
	if len(b) == 0 {
		return k.zero, nil
	}
	p := reflect.New(k.argType)
	if err := gob.NewDecoder(bytes.NewReader(b)).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("engine: kernel %q: decode arguments of type %s: %w", k.name, k.argType, err)
	}
	return p.Elem().Interface(), nil
}

// argsCache remembers, per kernel, the last arguments a team encoded, so a
// job whose arguments did not change costs no gob work in the coordinator
// (stable types compared with ==) nor in the workers (same blob id).
type argsCache struct {
	val   any    // last arguments (only for stable types)
	valOK bool   // val is set
	enc   []byte // their encoding
	id    uint64 // blob id of enc, unique within the team
}

// checkArgs resolves the args passed to For against kernel k: nil means the
// zero value; any other type than k's is ErrArgsType.
func checkArgs(k *kernel, args any) (any, error) {
	if args == nil {
		return k.zero, nil
	}
	if t := reflect.TypeOf(args); t != k.argType {
		if k.argType.Kind() == reflect.Interface && t.Implements(k.argType) {
			return args, nil
		}
		return nil, fmt.Errorf("engine: kernel %q: %w: registered with %s, called with %s", k.name, ErrArgsType, k.argType, t)
	}
	return args, nil
}
