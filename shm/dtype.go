package shm

import (
	"fmt"
	"reflect"
)

// DType is the element type of a segment's data. The numeric values are
// part of the file format (they are stored in the trailer) and never change.
type DType uint8

// The element types. All are little-endian, as numpy's '<' descriptors.
const (
	Invalid    DType = iota // no type; the zero value
	Int8                    // int8, npy "|i1"
	Int16                   // int16, npy "<i2"
	Int32                   // int32, npy "<i4"
	Int64                   // int64, npy "<i8"
	Uint8                   // uint8, npy "|u1"
	Uint16                  // uint16, npy "<u2"
	Uint32                  // uint32, npy "<u4"
	Uint64                  // uint64, npy "<u8"
	Float32                 // float32, npy "<f4"
	Float64                 // float64, npy "<f8"
	Complex64               // complex64, npy "<c8"
	Complex128              // complex128, npy "<c16"
	numDTypes
)

var dtypeInfo = [numDTypes]struct {
	name, descr string
	size        int
}{
	Invalid:    {"invalid", "", 0},
	Int8:       {"int8", "|i1", 1},
	Int16:      {"int16", "<i2", 2},
	Int32:      {"int32", "<i4", 4},
	Int64:      {"int64", "<i8", 8},
	Uint8:      {"uint8", "|u1", 1},
	Uint16:     {"uint16", "<u2", 2},
	Uint32:     {"uint32", "<u4", 4},
	Uint64:     {"uint64", "<u8", 8},
	Float32:    {"float32", "<f4", 4},
	Float64:    {"float64", "<f8", 8},
	Complex64:  {"complex64", "<c8", 8},
	Complex128: {"complex128", "<c16", 16},
}

// Valid reports whether d is one of the element types above (not Invalid).
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

// Size returns the size of one element in bytes, 0 for an invalid DType.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String returns the Go name of the type ("float64"), "invalid" for Invalid,
// or "dtype(N)" for a value out of range.
func (d DType) String() string {
	if d < numDTypes {
		return dtypeInfo[d].name
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// Descr returns the numpy type descriptor written in the npy header ("<f8"),
// or "" for an invalid DType.
func (d DType) Descr() string {
	if !d.Valid() {
		return ""
	}
	return dtypeInfo[d].descr
}

// ParseDType returns the DType named by s, which is either a Go name as
// returned by String ("float64") or a numpy descriptor as returned by Descr
// ("<f8"; for one-byte types "<i1" and "|i1" are both accepted).
func ParseDType(s string) (DType, error) {
	for d := Int8; d < numDTypes; d++ {
		if s == dtypeInfo[d].name {
			return d, nil
		}
	}
	if d := dtypeFromDescr(s); d.Valid() {
		return d, nil
	}
	return Invalid, fmt.Errorf("unknown dtype %q (want one of int8…int64, uint8…uint64, float32, float64, complex64, complex128, or a little-endian numpy descr such as \"<f8\")", s)
}

// dtypeFromDescr maps a numpy descr to a DType, Invalid if it is not one
// shmpar supports.
func dtypeFromDescr(s string) DType {
	for d := Int8; d < numDTypes; d++ {
		descr := dtypeInfo[d].descr
		if s == descr {
			return d
		}
		// numpy writes "|" (no byte order) for one-byte types; "<" means
		// the same there.
		if descr[0] == '|' && len(s) == len(descr) && s[0] == '<' && s[1:] == descr[1:] {
			return d
		}
	}
	return Invalid
}

// DTypeFor returns the DType whose elements have the memory layout of T,
// chosen by T's reflect.Kind so that named types (type Celsius float64) map
// like their underlying type. int and uint map to Int64/Uint64 (Int32/Uint32
// on 32-bit platforms). Any other type, including uintptr, bool and every
// type holding pointers, gives Invalid.
func DTypeFor[T any]() DType {
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.Int8:
		return Int8
	case reflect.Int16:
		return Int16
	case reflect.Int32:
		return Int32
	case reflect.Int64:
		return Int64
	case reflect.Int:
		if t.Size() == 8 {
			return Int64
		}
		return Int32
	case reflect.Uint8:
		return Uint8
	case reflect.Uint16:
		return Uint16
	case reflect.Uint32:
		return Uint32
	case reflect.Uint64:
		return Uint64
	case reflect.Uint:
		if t.Size() == 8 {
			return Uint64
		}
		return Uint32
	case reflect.Float32:
		return Float32
	case reflect.Float64:
		return Float64
	case reflect.Complex64:
		return Complex64
	case reflect.Complex128:
		return Complex128
	}
	return Invalid
}

// Kind says what a segment is for. The numeric values are part of the file
// format and never change.
type Kind uint8

// The segment kinds.
const (
	KindRaw    Kind = iota // bytes with no further structure; the zero value
	KindArray              // an array.Array
	KindValue              // a value.Value (a 0-d array)
	KindQueue              // a queue's ring buffer
	KindEngine             // an engine's control block
	KindMap                // a shmap.Map: uint8 bytes holding the map's own header and table
	numKinds
)

var kindNames = [numKinds]string{"raw", "array", "value", "queue", "engine", "map"}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool { return k < numKinds }

// String returns the kind's name ("array"), or "kind(N)" when out of range.
func (k Kind) String() string {
	if k.Valid() {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Flags are bits stored with a segment.
type Flags uint32

// The flags.
const (
	// FlagPersistent marks a segment that Sweep must never remove, even when
	// its creator is dead (a checkpoint, a result meant to outlive its
	// writer). The Persistent option sets it.
	FlagPersistent Flags = 1 << iota

	knownFlags = FlagPersistent
)

// String lists the set flags ("persistent"), "0" when none are.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	s := ""
	if f&FlagPersistent != 0 {
		s = "persistent"
		f &^= FlagPersistent
	}
	if f != 0 {
		if s != "" {
			s += "|"
		}
		s += fmt.Sprintf("%#x", uint32(f))
	}
	return s
}
