package lock

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestPlace(t *testing.T) {
	buf := make([]uint64, 64) // 8-byte aligned backing
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)

	m, err := Place[Mutex](b, 8)
	require.NoError(t, err)
	require.Equal(t, unsafe.Pointer(&b[8]), unsafe.Pointer(m))
	require.NoError(t, m.Lock())
	require.NotZero(t, buf[1], "the mutex lives in the buffer")
	require.NoError(t, m.Unlock())

	bar, err := Place[Barrier](b, len(b)-BarrierSize) // fits exactly
	require.NoError(t, err)
	require.NoError(t, bar.Init(1))

	for _, off := range []int{-8, len(b), len(b) - 4, 1 << 40} {
		_, err := Place[Mutex](b, off)
		require.ErrorIs(t, err, ErrOutOfRange, "offset %d", off)
	}
	_, err = Place[Barrier](b, len(b)-BarrierSize+8)
	require.ErrorIs(t, err, ErrOutOfRange)
	_, err = Place[Event](nil, 0)
	require.ErrorIs(t, err, ErrOutOfRange)

	for _, off := range []int{1, 4, 12} {
		_, err := Place[Cond](b, off)
		require.ErrorIs(t, err, ErrMisaligned, "offset %d", off)
	}
	_, err = Place[Semaphore](b[4:], 4) // aligned address, odd slice start
	require.NoError(t, err)
	_, err = Place[Semaphore](b[4:], 0)
	require.ErrorIs(t, err, ErrMisaligned)
	require.ErrorContains(t, err, "Semaphore")
}
