package codec

import (
	"bytes"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

type handle struct{ p string }

func (h *handle) GobEncode() ([]byte, error) { return []byte(h.p), nil }
func (h *handle) GobDecode(b []byte) error   { h.p = string(b); return nil }
func (h *handle) Path() string               { return h.p }

type plainPtr struct{ X *int }

func TestCheckEncodable(t *testing.T) {
	type ok1 struct {
		A int
		B []float64
		C map[string]int
		H *handle
		I any
		x chan int // unexported: gob ignores it
	}
	type nested struct{ In struct{ f func() } }
	_ = ok1{}.x // (the field exists only to be ignored by gob)
	for _, typ := range []reflect.Type{
		reflect.TypeFor[int](), reflect.TypeFor[struct{}](), reflect.TypeFor[[0]int](),
		reflect.TypeFor[ok1](), reflect.TypeFor[*handle](), reflect.TypeFor[[]string](), reflect.TypeFor[any](),
		reflect.TypeFor[time.Time](),
	} {
		require.NoError(t, Check(typ), "%s", typ)
		require.NoError(t, Of(typ).Err, "%s", typ)
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[chan int](), reflect.TypeFor[func()](), reflect.TypeFor[struct{ C chan int }](),
		reflect.TypeFor[struct{ x int }](), reflect.TypeFor[nested](), reflect.TypeFor[[]func()](),
		reflect.TypeFor[unsafe.Pointer](),
	} {
		err := Check(typ)
		require.Error(t, err, "%s", typ)
		require.Contains(t, err.Error(), "gob")
		require.Equal(t, err, Of(typ).Err)
	}
	require.Contains(t, Check(reflect.TypeFor[struct{ C chan int }]()).Error(), ".C is a chan")
	require.Contains(t, Check(reflect.TypeFor[struct{ x int }]()).Error(), "no exported fields")
}

func TestStableType(t *testing.T) {
	type s1 struct {
		A int
		B [3]float64
		H *handle
		S string
	}
	require.True(t, Stable(reflect.TypeFor[s1]()))
	require.True(t, Stable(reflect.TypeFor[struct{}]()))
	for _, typ := range []reflect.Type{
		reflect.TypeFor[[]int](), reflect.TypeFor[map[int]int](), reflect.TypeFor[any](),
		reflect.TypeFor[plainPtr](), reflect.TypeFor[*int](), reflect.TypeFor[struct{ F func() }](),
	} {
		require.False(t, Stable(typ), "%s", typ)
	}
}

func TestPlainType(t *testing.T) {
	require.True(t, Plain(reflect.TypeFor[struct {
		A []int
		M map[string]float64
		P *int
	}]()))
	require.False(t, Plain(reflect.TypeFor[struct{ H *handle }]()))
	require.False(t, Plain(reflect.TypeFor[[]any]()))
	require.False(t, Plain(reflect.TypeFor[time.Time]()))
}

func TestFlatType(t *testing.T) {
	type flat struct {
		A int32
		B [4]float64
		C struct{ D bool }
	}
	type hidden struct{ a int }
	_ = hidden{}.a // (the field exists only to be skipped by gob)
	for _, typ := range []reflect.Type{reflect.TypeFor[int](), reflect.TypeFor[complex128](), reflect.TypeFor[flat](), reflect.TypeFor[[3]flat]()} {
		require.True(t, Flat(typ), "%s", typ)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[string](), reflect.TypeFor[[]int](), reflect.TypeFor[*int](),
		reflect.TypeFor[hidden](), reflect.TypeFor[time.Time](), reflect.TypeFor[any](), reflect.TypeFor[uintptr]()} {
		require.False(t, Flat(typ), "%s", typ)
	}
}

func TestRoundTrip(t *testing.T) {
	type args struct {
		N int
		F []float64
		H *handle
	}
	c := Of(reflect.TypeFor[args]())
	var buf bytes.Buffer
	in := args{N: 7, F: []float64{1, 2.5}, H: &handle{"/dev/shm/x"}}
	require.NoError(t, c.Encode(in, &buf))
	out, err := c.Decode(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, in, out)

	e := Of(reflect.TypeFor[struct{}]())
	require.True(t, e.Empty)
	require.NoError(t, e.Encode(struct{}{}, &buf))
	require.Zero(t, buf.Len())
	v, err := e.Decode(nil)
	require.NoError(t, err)
	require.Equal(t, struct{}{}, v)

	i := Of(reflect.TypeFor[any]())
	require.Nil(t, i.Zero)
	require.NoError(t, i.Encode(42, &buf))
	v, err = i.Decode(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, 42, v)
	require.NoError(t, i.Encode(nil, &buf))
	require.Zero(t, buf.Len(), "nil travels as no bytes")

	_, err = c.Decode([]byte("garbage"))
	require.ErrorContains(t, err, "codec.args")
	type unregistered struct{ A int }
	require.Error(t, i.Encode(unregistered{1}, &buf), "an interface holding an unregistered type fails at run time")
}

// FuzzDecode feeds arbitrary bytes to Decode, as a worker process gets them
// from shared memory: an error, never a panic.
func FuzzDecode(f *testing.F) {
	type args struct {
		N int
		F []float64
		M map[string]int
	}
	c := Of(reflect.TypeFor[args]())
	var buf bytes.Buffer
	if err := c.Encode(args{N: 1, F: []float64{2}, M: map[string]int{"a": 3}}, &buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := c.Decode(b)
		if err == nil {
			if _, ok := v.(args); !ok {
				t.Fatalf("decoded a %T", v)
			}
		}
	})
}
