package shmap

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"
)

// typeInfo describes a key or value type as the map stores it: its size,
// whether it is a string key, and a signature that two processes compare to
// know they mean the same layout.
type typeInfo struct {
	name   string // reflect's name for messages ("main.Point")
	sig    string // canonical layout, e.g. "struct{X@0 int64;Y@8 int64}"
	size   int    // bytes of the Go value (for a string key: MaxKeyLen)
	str    bool   // a string key
	hash   uint64 // FNV-1a of sig
	reason string // why the type is refused, "" when it is accepted
}

// keyInfo inspects K once, at Create or Open. Keys are compared and hashed
// by their bytes, so a key type must have no pointers (their targets differ
// between processes), no floating-point numbers (+0 and -0 are equal but
// differ in bytes; NaN is unequal to itself) and no padding (whose bytes
// are not part of the value).
func keyInfo(t reflect.Type) typeInfo {
	ti := typeInfo{name: t.String()}
	if t.Kind() == reflect.String {
		ti.str, ti.sig = true, "string"
		ti.hash = sigHash(ti.sig)
		return ti
	}
	var b strings.Builder
	ti.reason = layoutSig(&b, t, true)
	ti.sig, ti.size = b.String(), int(t.Size())
	ti.hash = sigHash(ti.sig)
	return ti
}

// valueInfo inspects V once: any type without pointers is accepted.
func valueInfo(t reflect.Type) typeInfo {
	ti := typeInfo{name: t.String()}
	var b strings.Builder
	ti.reason = layoutSig(&b, t, false)
	ti.sig, ti.size = b.String(), int(t.Size())
	ti.hash = sigHash(ti.sig)
	return ti
}

func sigHash(sig string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(sig))
	return h.Sum64()
}

// layoutSig writes the canonical layout of t to b and returns why t cannot
// be stored ("" if it can). For a key, floats and padding are refused too.
// Type names are left out (type Celsius float64 has the layout of float64);
// struct field names and offsets are kept (struct{X, Y int64} is not
// struct{Y, X int64}).
func layoutSig(b *strings.Builder, t reflect.Type, key bool) string {
	switch k := t.Kind(); k {
	case reflect.Bool:
		b.WriteString("bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		fmt.Fprintf(b, "int%d", 8*t.Size())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		fmt.Fprintf(b, "uint%d", 8*t.Size())
	case reflect.Uintptr:
		fmt.Fprintf(b, "uintptr%d", 8*t.Size())
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		if key {
			b.WriteString(k.String())
			return fmt.Sprintf("%s is compared by its bytes, where +0 and -0 differ and NaN equals itself; use math.Float64bits for a key", k)
		}
		b.WriteString(k.String())
	case reflect.Array:
		fmt.Fprintf(b, "[%d]", t.Len())
		return layoutSig(b, t.Elem(), key)
	case reflect.Struct:
		b.WriteString("struct{")
		end := uintptr(0)
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(b, "%s@%d ", f.Name, f.Offset)
			if r := layoutSig(b, f.Type, key); r != "" {
				return fmt.Sprintf("field %s: %s", f.Name, r)
			}
			if key && f.Offset != end && f.Type.Size() > 0 {
				return fmt.Sprintf("padding before field %s: a key is compared by its bytes, and padding bytes are not part of it", f.Name)
			}
			end = f.Offset + f.Type.Size()
		}
		b.WriteByte('}')
		if key && end != t.Size() {
			return "padding at the end of the struct: a key is compared by its bytes, and padding bytes are not part of it"
		}
		fmt.Fprintf(b, "%d", t.Size())
	default:
		b.WriteString(k.String())
		return fmt.Sprintf("%s holds pointers, which mean nothing in another process", k)
	}
	return ""
}
