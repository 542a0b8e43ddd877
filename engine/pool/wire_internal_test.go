package pool

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine/internal/codec"
)

// FuzzPoolWire feeds arbitrary bytes to the parsers of pool messages, which
// come from other processes: they must return an error, never panic or read
// out of bounds.
func FuzzPoolWire(f *testing.F) {
	th := taskHdr{kind: tmBatch, nameLen: 3, n: 2, session: 1, seq: 2, call: 3}
	tb := make([]byte, poolHdr+8+16)
	th.put(tb)
	copy(tb[poolHdr:], "abc")
	f.Add(tb)
	e := wireErr{idx: 1, kind: ekPanic, msg: "boom", stack: "stack"}
	eb := appendWireErr(nil, &e)
	rh := resHdr{kind: rmResult, n: 2, nerr: 1, errBytes: uint32(len(eb)), pbytes: 16}
	rb := make([]byte, poolHdr+16)
	rh.put(rb)
	rb = append(rb, eb...)
	f.Add(rb)
	f.Add([]byte{})
	f.Add(make([]byte, poolHdr))
	f.Fuzz(func(t *testing.T, b []byte) {
		var th taskHdr
		if th.get(b) == nil {
			name, payload := th.body(b)
			_, _ = name, payload
		}
		var rh resHdr
		if rh.get(b) == nil {
			errs, payload := rh.body(b)
			_, _ = parseWireErrs(errs, int(rh.nerr))
			_ = payload
		}
		_, _ = parseWireErrs(b, 3)
		var in gobIn
		var v []int
		_ = in.decode(b, true, &v)
		_, _ = aliasRaw[int64](b, len(b)/8)
		// A dead worker's journal: a gob stream of one message per value.
		var j gobIn
		vs := make([]string, 3)
		_ = j.decodeEach(b, true, len(vs), func(k int) any { return &vs[k] })
	})
}

func TestPoolCurPacking(t *testing.T) {
	for _, c := range []struct {
		seq uint64
		j   int
	}{{0, 0}, {1, 0}, {1, maxBatchTasks}, {1 << 39, 12345}} {
		s, j := unpackCur(packCur(c.seq, c.j))
		if s != c.seq || j != c.j {
			t.Fatalf("unpackCur(packCur(%d, %d)) = %d, %d", c.seq, c.j, s, j)
		}
	}
}

// flatA and flatB are flat types of several kinds, nested.
type flatA struct {
	I8  int8
	U16 uint16
	F32 float32
	B   bool
	C64 complex64
	Arr [3]int32
}

type flatB struct {
	A   flatA
	F64 float64
	As  [2]flatA
	U   uint
}

// fillFlat sets every field of the flat value v from b, cycling.
func fillFlat(v reflect.Value, b []byte, i *int) {
	next := func(n int) uint64 {
		var x uint64
		for k := range n {
			if len(b) > 0 {
				x |= uint64(b[*i%len(b)]) << (8 * k)
			}
			*i++
		}
		return x
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(next(1)&1 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(next(int(v.Type().Size()))))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(next(int(v.Type().Size())))
	case reflect.Float32:
		v.SetFloat(float64(math.Float32frombits(uint32(next(4)))))
	case reflect.Float64:
		v.SetFloat(math.Float64frombits(next(8)))
	case reflect.Complex64:
		v.SetComplex(complex(float64(math.Float32frombits(uint32(next(4)))), float64(math.Float32frombits(uint32(next(4))))))
	case reflect.Array:
		for k := range v.Len() {
			fillFlat(v.Index(k), b, i)
		}
	case reflect.Struct:
		for k := range v.NumField() {
			fillFlat(v.Field(k), b, i)
		}
	default:
		panic("not flat: " + v.Type().String())
	}
}

// sameFlat compares two flat values field by field: floats bit for bit,
// except that any NaN equals any NaN and -0 equals +0. The byte copy keeps
// every bit; gob does not quite: it carries a float32 as a float64, and the
// conversion quiets a signaling NaN, and it leaves out a struct field equal
// to zero, so a -0 field arrives as +0.
func sameFlat(x, y reflect.Value) bool {
	switch x.Kind() {
	case reflect.Float32, reflect.Float64:
		a, b := x.Float(), y.Float()
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b)) || (a == 0 && b == 0)
	case reflect.Complex64:
		a, b := x.Complex(), y.Complex()
		return sameFlat(reflect.ValueOf(real(a)), reflect.ValueOf(real(b))) && sameFlat(reflect.ValueOf(imag(a)), reflect.ValueOf(imag(b)))
	case reflect.Array:
		for k := range x.Len() {
			if !sameFlat(x.Index(k), y.Index(k)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for k := range x.NumField() {
			if !sameFlat(x.Field(k), y.Field(k)) {
				return false
			}
		}
		return true
	}
	return x.Interface() == y.Interface()
}

// flatRoundTrip checks that n values of T built from b cross the same way
// byte for byte (the pool's flat path: rawBytes, then viewRaw of a
// message) as through gob (the path of every other type).
func flatRoundTrip[T any](t *testing.T, b []byte, n int) {
	if !codec.Flat(reflect.TypeFor[T]()) {
		t.Fatalf("%v is not flat", reflect.TypeFor[T]())
	}
	src := make([]T, n)
	i := 0
	for k := range src {
		fillFlat(reflect.ValueOf(&src[k]).Elem(), b, &i)
	}
	msg := make([]byte, 64+len(rawBytes(src)))
	copy(msg[64:], rawBytes(src))
	raw := viewRaw[T](msg, 64, n)

	var out gobOut
	enc, fresh, err := out.encode(nil, src)
	require.NoError(t, err)
	var in gobIn
	var dec []T
	require.NoError(t, in.decode(enc, fresh, &dec))
	require.Len(t, dec, n)
	for k := range n {
		if !sameFlat(reflect.ValueOf(raw[k]), reflect.ValueOf(dec[k])) || !sameFlat(reflect.ValueOf(src[k]), reflect.ValueOf(raw[k])) {
			t.Fatalf("value %d: source %+v, byte copy %+v, gob %+v", k, src[k], raw[k], dec[k])
		}
	}
}

// FuzzFlatCopy checks the byte-for-byte copy of flat types against their
// gob round trip, its slow twin.
func FuzzFlatCopy(f *testing.F) {
	f.Add([]byte{0}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xc0, 0x7f, 0x00, 0x00, 0x80, 0xff, 1, 2, 3}, uint8(5))
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), uint8(17))
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		k := int(n%32) + 1
		flatRoundTrip[int](t, b, k)
		flatRoundTrip[float32](t, b, k)
		flatRoundTrip[[4]float64](t, b, k)
		flatRoundTrip[flatA](t, b, k)
		flatRoundTrip[flatB](t, b, k)
	})
}

type stallView time.Duration

func (s stallView) StallLimit() time.Duration { return time.Duration(s) }

func TestStallLimitOf(t *testing.T) {
	require.Equal(t, time.Second, stallLimitOf(time.Second, stallView(time.Hour)), "the option wins")
	require.Zero(t, stallLimitOf(-1, stallView(time.Hour)), "off")
	require.Equal(t, time.Hour, stallLimitOf(0, stallView(time.Hour)), "the team's")
	require.LessOrEqual(t, stallLimitOf(0, stallView(-1)), time.Duration(0), "the team has none: none")
	require.Equal(t, DefaultStallLimit, stallLimitOf(0, struct{}{}), "a team that says nothing")
}
