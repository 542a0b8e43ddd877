//go:build linux

package shmap

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/lock"
	"github.com/shmpar/shmpar/shm"
)

type pair struct{ A, B int64 }

// damagedFile creates a map file, lets edit change its header (the first
// headerSize bytes of its data region), and returns the error of opening it.
func damagedFile(t *testing.T, edit func(h []byte)) error {
	t.Helper()
	dir := t.TempDir()
	m, err := Create[uint64, pair]("m", 100, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, m.Store(1, pair{1, 2}))
	require.NoError(t, m.Close())
	path := filepath.Join(dir, "m")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	h := make([]byte, headerSize)
	_, err = f.ReadAt(h, shm.DataOffset)
	require.NoError(t, err)
	edit(h)
	_, err = f.WriteAt(h, shm.DataOffset)
	require.NoError(t, err)
	o, err := Open[uint64, pair]("m", Dir(dir))
	if err == nil {
		o.Close()
	}
	return err
}

func resum(h []byte) {
	binary.LittleEndian.PutUint32(h[hCRC:], crc32.Checksum(h[:hCRC], castagnoli))
}

// TestDamagedHeader flips each bit of a map file's header in turn: Open
// must refuse every one, with the sentinel for the field hit, before it
// touches an entry.
func TestDamagedHeader(t *testing.T) {
	require.NoError(t, damagedFile(t, func([]byte) {}), "an undamaged file opens")
	for off := range headerSize {
		for _, bit := range []byte{0x01, 0x80} {
			err := damagedFile(t, func(h []byte) { h[off] ^= bit })
			want := ErrCorrupt
			switch {
			case off < hVersion:
				want = ErrNotMap
			case off < hHeaderSize:
				want = ErrVersion
			}
			require.ErrorIs(t, err, want, "byte %d bit %#x: %v", off, bit, err)
		}
	}
}

// TestHeaderFields damages one field at a time with a valid checksum: every
// check after the checksum must catch what it is for.
func TestHeaderFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(h []byte)
		want error
		text string
	}{
		{"version", func(h []byte) { h[hVersion] = 1; resum(h) }, ErrVersion, "version 1"},
		{"header size", func(h []byte) { h[hHeaderSize] = 255; resum(h) }, ErrCorrupt, "header size"},
		{"flags", func(h []byte) { h[hFlags] = 2; resum(h) }, ErrCorrupt, "unknown flags"},
		{"capacity", func(h []byte) { h[hCapacity]++; resum(h) }, ErrCorrupt, "one bucket per entry"},
		{"capacity zero", func(h []byte) { binary.LittleEndian.PutUint64(h[hCapacity:], 0); resum(h) }, ErrCorrupt, "capacity 0"},
		{"capacity huge", func(h []byte) { binary.LittleEndian.PutUint64(h[hCapacity:], 1<<63); resum(h) }, ErrCorrupt, "out of range"},
		{"stripes", func(h []byte) { binary.LittleEndian.PutUint32(h[hStripes:], MaxStripes+1); resum(h) }, ErrCorrupt, "stripes"},
		{"value size", func(h []byte) { h[hValSize]++; resum(h) }, ErrCorrupt, "does not match"},
		{"slots offset", func(h []byte) { h[hSlotsOff+1] += 16; resum(h) }, ErrCorrupt, "does not match"},
		{"bitmap offset", func(h []byte) { h[hBitmapOff] += 64; resum(h) }, ErrCorrupt, "does not match"},
		{"buckets", func(h []byte) { h[hBuckets]++; resum(h) }, ErrCorrupt, "one bucket per entry"},
		{"buckets and capacity", func(h []byte) {
			// A consistent header for a bigger map than the file holds.
			binary.LittleEndian.PutUint64(h[hCapacity:], 101)
			binary.LittleEndian.PutUint64(h[hBuckets:], 101)
			l := layoutFor(8, false, 16, int(binary.LittleEndian.Uint32(h[hStripes:])), 101)
			binary.LittleEndian.PutUint64(h[hSlotsOff:], uint64(l.slotsOff))
			binary.LittleEndian.PutUint64(h[hBitmapOff:], uint64(l.bitmapOff))
			binary.LittleEndian.PutUint64(h[hEnd:], uint64(l.end))
			resum(h)
		}, ErrCorrupt, "the segment's data region has"},
		{"key type", func(h []byte) { h[hKeySig]++; resum(h) }, ErrKeyType, "the map's keys are uint64"},
		{"value type", func(h []byte) { h[hValSig]++; resum(h) }, ErrValueType, "shmap.pair"},
		{"string keys", func(h []byte) { h[hFlags] = flagStringKey; resum(h) }, ErrCorrupt, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := damagedFile(t, tc.edit)
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, tc.text)
		})
	}
}

// TestTruncated opens map files cut short or grown: shm refuses them before
// mapping (a cut file would fault on access).
func TestTruncated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m")
	create := func() int64 {
		os.Remove(path)
		m, err := Create[uint64, uint64]("m", 1000, Dir(dir))
		require.NoError(t, err)
		require.NoError(t, m.Close())
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Size()
	}
	size := create()
	for _, cut := range []int64{size - 1, size - 4096, size / 2, 4096, 10} {
		create()
		require.NoError(t, os.Truncate(path, cut))
		_, err := Open[uint64, uint64]("m", Dir(dir))
		require.ErrorIs(t, err, shm.ErrTruncated, "size %d", cut)
	}
	create()
	require.NoError(t, os.Truncate(path, size+4096))
	_, err := Open[uint64, uint64]("m", Dir(dir))
	require.ErrorIs(t, err, shm.ErrCorrupt)
}

// TestDamagedLocks damages the lock words and journals in the stripes: a
// lock word naming a process that does not exist is taken over and the
// stripe repaired; a journal naming an impossible operation, a lock left
// not recoverable, or an allocator with impossible words give ErrCorrupt on
// that part of the map while the rest keeps working. Nothing hangs.
func TestDamagedLocks(t *testing.T) {
	newMap := func(t *testing.T) *Map[uint64, uint64] {
		m, err := CreateAnon[uint64, uint64](64, Stripes(4))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		for k := range uint64(20) {
			require.NoError(t, m.Store(k, k))
		}
		return m
	}
	stripeOfKey := func(m *Map[uint64, uint64], k uint64) uint64 {
		var buf [kbufWords]uint64
		_, b, _, err := m.prep(&k, buf[:])
		require.NoError(t, err)
		return m.t.stripeOf(b)
	}
	lockWord := func(mu *lock.Mutex) *uint64 { return (*uint64)(unsafePointer(mu)) }
	const deadPID = 1<<29 - 1 // above any pid_max: never a live process

	t.Run("dead owner, nothing to repair", func(t *testing.T) {
		m := newMap(t)
		*lockWord(&m.t.stripe(stripeOfKey(m, 3)).mu) = deadPID
		require.NoError(t, m.Store(3, 33))
		v, _, err := m.Load(3)
		require.NoError(t, err)
		require.Equal(t, uint64(33), v)
		require.NoError(t, m.Check())
	})
	t.Run("dead owner, impossible journal", func(t *testing.T) {
		m := newMap(t)
		s := stripeOfKey(m, 3)
		st := m.t.stripe(s)
		st.jrec.Store(journal(opUpdate, m.t.nb+5, 0))
		*lockWord(&st.mu) = deadPID
		err := m.Store(3, 33)
		require.ErrorIs(t, err, ErrCorrupt)
		require.ErrorContains(t, err, fmt.Sprintf("journal names operation 2 on bucket %d", m.t.nb+5))
		require.ErrorIs(t, m.Store(3, 33), ErrCorrupt, "the stripe stays unusable")
		_, _, err = m.Load(3)
		require.NoError(t, err, "lock-free reads of undamaged buckets still work")
		for k := range uint64(20) {
			if stripeOfKey(m, k) != s {
				require.NoError(t, m.Store(k, 1), "other stripes still work")
			}
		}
		require.ErrorIs(t, m.Check(), ErrCorrupt)
	})
	t.Run("not recoverable", func(t *testing.T) {
		m := newMap(t)
		*lockWord(&m.t.stripe(stripeOfKey(m, 5)).mu) = 1 << 29
		require.ErrorIs(t, m.Delete(5), ErrCorrupt)
	})
	t.Run("allocator", func(t *testing.T) {
		m := newMap(t)
		m.t.ctl.ajob.Store(aFree<<32 | 1000)
		*lockWord(&m.t.ctl.allocMu) = deadPID
		err := m.Store(100, 1)
		require.ErrorIs(t, err, ErrCorrupt)
		require.ErrorContains(t, err, "allocator: journal names operation 2 on entry 1000")
		v, ok, err := m.Load(7)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(7), v)
	})
	t.Run("odd version with no writer", func(t *testing.T) {
		m := newMap(t)
		var buf [kbufWords]uint64
		k := uint64(9)
		_, b, _, _ := m.prep(&k, buf[:])
		m.t.bucket(b).Add(verOne)
		v, ok, err := m.Load(9)
		require.NoError(t, err, "the locked read still finds the key")
		require.True(t, ok)
		require.Equal(t, uint64(9), v)
		require.ErrorIs(t, m.Check(), ErrCorrupt)
	})
}

// TestLayoutFormula checks the size of map files against the formula
// doc.go gives, and the memory per entry against the raw key and value
// bytes.
func TestLayoutFormula(t *testing.T) {
	dir := t.TempDir()
	roundUp := func(n, m int64) int64 { return (n + m - 1) / m * m }
	check := func(name string, size int64, capacity, stripes, keyBytes, valBytes int64) int64 {
		t.Helper()
		v := roundUp(valBytes, 8)
		slot := 16 + keyBytes + v
		stripe := roundUp(32+v, 64)
		bitmap := roundUp(320+stripes*stripe, 64)
		words := (capacity + 63) / 64
		slots := roundUp(bitmap+8*(words+(words+63)/64), 4096)
		end := slots + capacity*slot
		fi, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, 4096+roundUp(end, 4096)+4096, fi.Size(), name)
		return fi.Size()
	}
	for i, c := range []int{1, 10, 1000, 12345} {
		name := fmt.Sprint("u", i)
		m, err := Create[uint64, uint64](name, c, Dir(dir))
		require.NoError(t, err)
		m.Close()
		check(name, 0, int64(c), int64(min(c, DefaultStripes)), 8, 8)

		name = fmt.Sprint("s", i)
		s, err := Create[string, [3]int32](name, c, Dir(dir), MaxKeyLen(13), Stripes(5))
		require.NoError(t, err)
		s.Close()
		check(name, 0, int64(c), int64(min(c, 5)), 8+16, 12)
	}
	const big = 1 << 20
	m, err := Create[uint64, uint64]("big", big, Dir(dir))
	require.NoError(t, err)
	m.Close()
	size := check("big", 0, big, DefaultStripes, 8, 8)
	ratio := float64(size) / (big * 16)
	t.Logf("8-byte keys and values, %d entries: %d bytes, %.3f× the raw key and value bytes", big, size, ratio)
	require.LessOrEqual(t, ratio, 2.5)
}
