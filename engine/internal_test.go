package engine

import (
	"bytes"
	"math"
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
	for _, typ := range []reflect.Type{
		reflect.TypeFor[int](), reflect.TypeFor[struct{}](), reflect.TypeFor[[0]int](),
		reflect.TypeFor[ok1](), reflect.TypeFor[*handle](), reflect.TypeFor[[]string](), reflect.TypeFor[any](),
		reflect.TypeFor[time.Time](),
	} {
		require.NoError(t, checkEncodable(typ), "%s", typ)
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[chan int](), reflect.TypeFor[func()](), reflect.TypeFor[struct{ C chan int }](),
		reflect.TypeFor[struct{ x int }](), reflect.TypeFor[nested](), reflect.TypeFor[[]func()](),
		reflect.TypeFor[unsafe.Pointer](),
	} {
		err := checkEncodable(typ)
		require.ErrorIs(t, err, ErrArgsEncode, "%s", typ)
		require.Contains(t, err.Error(), "gob")
	}
}

func TestStableType(t *testing.T) {
	type s1 struct {
		A int
		B [3]float64
		H *handle
		S string
	}
	require.True(t, stableType(reflect.TypeFor[s1](), nil))
	require.True(t, stableType(reflect.TypeFor[struct{}](), nil))
	for _, typ := range []reflect.Type{
		reflect.TypeFor[[]int](), reflect.TypeFor[map[int]int](), reflect.TypeFor[any](),
		reflect.TypeFor[plainPtr](), reflect.TypeFor[*int](), reflect.TypeFor[struct{ F func() }](),
	} {
		require.False(t, stableType(typ, nil), "%s", typ)
	}
}

func TestPlainType(t *testing.T) {
	require.True(t, plainType(reflect.TypeFor[struct {
		A []int
		M map[string]float64
		P *int
	}](), nil))
	require.False(t, plainType(reflect.TypeFor[struct{ H *handle }](), nil))
	require.False(t, plainType(reflect.TypeFor[[]any](), nil))
	require.False(t, plainType(reflect.TypeFor[time.Time](), nil))
}

func TestArgsRoundTrip(t *testing.T) {
	type args struct {
		N int
		F []float64
		H *handle
	}
	k := newKernel[args]("t", nil)
	var buf bytes.Buffer
	in := args{N: 7, F: []float64{1, 2.5}, H: &handle{"/dev/shm/x"}}
	require.NoError(t, encodeArgs(k, in, &buf))
	out, err := decodeArgs(k, buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, in, out)

	ke := newKernel[struct{}]("e", nil)
	require.True(t, ke.empty)
	require.NoError(t, encodeArgs(ke, struct{}{}, &buf))
	require.Zero(t, buf.Len())
	v, err := decodeArgs(ke, nil)
	require.NoError(t, err)
	require.Equal(t, struct{}{}, v)

	ki := newKernel[any]("i", nil)
	require.NoError(t, encodeArgs(ki, 42, &buf))
	v, err = decodeArgs(ki, buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, 42, v)

	_, err = decodeArgs(k, []byte("garbage"))
	require.Error(t, err)
}

func TestCheckArgs(t *testing.T) {
	k := newKernel[int]("k", nil)
	v, err := checkArgs(k, nil)
	require.NoError(t, err)
	require.Equal(t, 0, v)
	_, err = checkArgs(k, "x")
	require.ErrorIs(t, err, ErrArgsType)
	require.Contains(t, err.Error(), "int")
	require.Contains(t, err.Error(), "string")
}

func TestBits(t *testing.T) {
	require.Equal(t, -3.5, fromBits[float64](toBits(-3.5)))
	require.Equal(t, float32(1.25), fromBits[float32](toBits(float32(1.25))))
	require.Equal(t, int8(-7), fromBits[int8](toBits(int8(-7))))
	require.Equal(t, uint64(math.MaxUint64), fromBits[uint64](toBits(uint64(math.MaxUint64))))
	require.Equal(t, math.MinInt64, fromBits[int](toBits(math.MinInt64)))
}

func TestExtremes(t *testing.T) {
	require.Equal(t, math.Inf(1), Min[float64]().identity)
	require.Equal(t, math.Inf(-1), Max[float64]().identity)
	require.Equal(t, int8(127), Min[int8]().identity)
	require.Equal(t, int8(-128), Max[int8]().identity)
	require.Equal(t, uint16(65535), Min[uint16]().identity)
	require.Equal(t, uint16(0), Max[uint16]().identity)
	require.Equal(t, int64(math.MaxInt64), Min[int64]().identity)
}

func TestControlLayout(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(ctlHeader{}), uintptr(headerSize))
	require.Equal(t, uintptr(slotSize), unsafe.Sizeof(slot{}))
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.gen)%lineSize)
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.claim)%lineSize)
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.done)%lineSize)
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.stop)%lineSize)

	l := ctlLayout(4, 4096)
	mem := alignedBytes(int(l.size))
	c, err := initControl(mem, l)
	require.NoError(t, err)
	require.Len(t, c.slots, 4)
	require.Len(t, c.args, 4096)
	require.Len(t, c.partials, partialsCap)
	require.Len(t, c.list, 4)

	c.writeErr(2, errKindPanic, 3, 10, 20, "boom", string(bytes.Repeat([]byte("s"), 3*errAreaSize)))
	kind, sentinel, lo, hi, msg, stack := c.readErr(2)
	require.Equal(t, uint32(errKindPanic), kind)
	require.Equal(t, ErrStopped, sentinelOf(sentinel))
	require.Equal(t, [2]int{10, 20}, [2]int{lo, hi})
	require.Equal(t, "boom", msg)
	require.Less(t, len(stack), errAreaSize)
	// Another participant's area is untouched.
	kind, _, _, _, msg, _ = c.readErr(1)
	require.Zero(t, kind)
	require.Empty(t, msg)

	// A corrupt block is an error, not an out-of-range access.
	for _, corrupt := range []func(h *ctlHeader){
		func(h *ctlHeader) { h.magic[0] = 'X' },
		func(h *ctlHeader) { h.version = 99 },
		func(h *ctlHeader) { h.argsOff = l.size },
		func(h *ctlHeader) { h.nslots = 1 << 20 },
		func(h *ctlHeader) { h.partCap = 1 << 40 },
		func(h *ctlHeader) { h.errOff = 3 },
	} {
		m := alignedBytes(int(l.size))
		_, err := initControl(m, l)
		require.NoError(t, err)
		corrupt((*ctlHeader)(unsafe.Pointer(&m[0])))
		_, err = viewControl(m)
		require.Error(t, err)
	}
	_, err = viewControl(alignedBytes(100))
	require.Error(t, err)
}

// alignedBytes returns n zeroed bytes starting on a page boundary.
func alignedBytes(n int) []byte {
	b := make([]byte, n+pageSize)
	off := (pageSize - int(uintptr(unsafe.Pointer(&b[0]))%pageSize)) % pageSize
	return b[off : off+n : off+n]
}

func TestWorkerEnv(t *testing.T) {
	e := workerEnv{idx: 3, ctl: 3, life: 4, ppid: 1234, spin: 150 * time.Microsecond, cpu: 1}
	got, err := parseWorkerEnv(formatWorkerEnv(e))
	require.NoError(t, err)
	require.Equal(t, e, got)
	for _, bad := range []string{"", "v2;idx=1", "v1;idx=x", "v1;idx=1;ctl=3;life=4", "v1;idx=1;ctl=3;life=4;ppid=9;bogus=1", "v1;idx=1;ctl=1;life=4;ppid=9"} {
		_, err := parseWorkerEnv(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestSpawnEnv(t *testing.T) {
	e := spawnEnv{life: 3, args: 4, report: 5, ppid: 4321}
	got, err := parseSpawnEnv(formatSpawnEnv(e))
	require.NoError(t, err)
	require.Equal(t, e, got)
	for _, bad := range []string{"", "v2;life=3", "v1;life=x", "v1;life=3;args=4;report=5", "v1;life=3;args=4;report=5;ppid=9;idx=1", "v1;life=1;args=4;report=5;ppid=9"} {
		_, err := parseSpawnEnv(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestCPUMax(t *testing.T) {
	require.Equal(t, 0, cpuMaxLimit("max 100000\n"))
	require.Equal(t, 2, cpuMaxLimit("200000 100000\n"))
	require.Equal(t, 2, cpuMaxLimit("150000 100000"))
	require.Equal(t, 0, cpuMaxLimit("garbage"))
	require.GreaterOrEqual(t, UsableCPUs(), 1)
}
