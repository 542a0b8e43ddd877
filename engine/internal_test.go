package engine

import (
	"bytes"
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine/internal/placement"
	"github.com/shmpar/shmpar/engine/internal/remote"
)

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

// Min and Max agree with math.Min and math.Max on NaN and signed zeros,
// whichever side the special value comes from.
func TestMinMaxAgreeWithMath(t *testing.T) {
	nan := math.NaN()
	vals := []float64{nan, math.Inf(-1), -2, math.Copysign(0, -1), 0, 1.5, math.Inf(1)}
	same := func(want, got float64) bool {
		if math.IsNaN(want) {
			return math.IsNaN(got)
		}
		return want == got && math.Signbit(want) == math.Signbit(got)
	}
	mn, mx := Min[float64](), Max[float64]()
	mn32 := Min[float32]()
	for _, a := range vals {
		for _, b := range vals {
			require.True(t, same(math.Min(a, b), mn.f(a, b)), "Min(%v, %v) = %v, math.Min says %v", a, b, mn.f(a, b), math.Min(a, b))
			require.True(t, same(math.Max(a, b), mx.f(a, b)), "Max(%v, %v) = %v, math.Max says %v", a, b, mx.f(a, b), math.Max(a, b))
			got := float64(mn32.f(float32(a), float32(b)))
			require.True(t, same(math.Min(a, b), got), "float32 Min(%v, %v) = %v", a, b, got)
		}
	}
	// A NaN partial anywhere in the fold makes the result NaN.
	acc := mn.identity
	for _, v := range []float64{3, nan, 1} {
		acc = mn.f(acc, v)
	}
	require.True(t, math.IsNaN(acc))
	require.Equal(t, int8(-5), Min[int8]().f(3, -5))
	require.Equal(t, uint16(7), Max[uint16]().f(7, 2))
}

func TestControlLayout(t *testing.T) {
	require.LessOrEqual(t, unsafe.Sizeof(ctlHeader{}), uintptr(headerSize))
	require.Equal(t, uintptr(slotSize), unsafe.Sizeof(slot{}))
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.gen)%lineSize)
	require.Equal(t, unsafe.Offsetof(ctlHeader{}.gen)/64, unsafe.Offsetof(ctlHeader{}.claim)/64,
		"gen and claim share the 64-byte line the coordinator writes to post a job")
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.desc)%lineSize)
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.done)%lineSize)
	require.Zero(t, unsafe.Offsetof(ctlHeader{}.stop)%lineSize)

	l := ctlLayout(4, 1, 4096)
	mem := alignedBytes(int(l.size))
	c, err := initControl(mem, l)
	require.NoError(t, err)
	require.Len(t, c.slots, 4)
	require.Len(t, c.life, 4)
	require.Zero(t, l.lifeOff%lineSize, "the life words do not share a line with the slots")
	require.Len(t, c.args, 4096)
	require.Len(t, c.partials, partialsCap)
	require.Len(t, c.list, 4)

	c.writeErr(2, errKindPanic, 3, 10, 20, "boom", string(bytes.Repeat([]byte("s"), 3*errAreaSize)))
	kind, sentinel, lo, hi, msg, stack := c.readErr(2)
	require.Equal(t, uint32(errKindPanic), kind)
	require.Equal(t, ErrStopped, remote.Sentinel(sentinel))
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
		func(h *ctlHeader) { h.first = 2 },
		func(h *ctlHeader) { h.lifeOff = l.size - 4 },
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
	e := workerEnv{idx: 3, ctl: 3, life: 4, ppid: 1234, spin: 150 * time.Microsecond, cpu: 1, polls: 2048, prefault: true}
	got, err := parseWorkerEnv(formatWorkerEnv(e))
	require.NoError(t, err)
	require.Equal(t, e, got)
	for _, bad := range []string{"", "v2;idx=1", "v1;idx=x", "v1;idx=1;ctl=3;life=4", "v1;idx=1;ctl=3;life=4;ppid=9;bogus=1", "v1;idx=1;ctl=1;life=4;ppid=9"} {
		_, err := parseWorkerEnv(bad)
		require.Error(t, err, "%q", bad)
	}
}

// TestUsableCPUs checks the default team size against the affinity mask
// (the cgroup quota's parsing is tested in internal/cpus).
func TestUsableCPUs(t *testing.T) {
	require.GreaterOrEqual(t, UsableCPUs(), 1)
	if cpus := placement.Allowed(); cpus != nil {
		require.LessOrEqual(t, UsableCPUs(), len(cpus))
	}
}
