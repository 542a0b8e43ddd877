//go:build linux

package shmap

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// seedHeaders returns the headers of a few real maps, to seed the header
// fuzzer.
func seedHeaders(t testing.TB) [][]byte {
	var out [][]byte
	add := func(h header, err error) {
		require.NoError(t, err)
		out = append(out, h.encode())
	}
	add(newHeader[uint64, uint64](1000, getOptions(nil)))
	add(newHeader[string, [3]float64](7, getOptions([]Option{MaxKeyLen(20), Stripes(3)})))
	add(newHeader[[5]byte, struct{}](1, getOptions(nil)))
	return out
}

// FuzzParseHeader feeds arbitrary bytes to the header parser: it must never
// panic or read past the header, and what it accepts must encode back to a
// header that parses to the same thing.
func FuzzParseHeader(f *testing.F) {
	for _, b := range seedHeaders(f) {
		h, err := parseHeader(b, 0)
		require.Error(f, err) // the data length is checked too
		h, err = parseHeader(b, int(uint64FromLE(b[hEnd:])))
		require.NoError(f, err)
		f.Add(b, h.end)
		b2 := append([]byte(nil), b...)
		b2[hCapacity]++
		f.Add(b2, h.end)
	}
	f.Fuzz(func(t *testing.T, b []byte, dataLen int) {
		h, err := parseHeader(b, dataLen)
		if err != nil {
			if !errors.Is(err, ErrNotMap) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		require.Equal(t, dataLen, h.end)
		h2, err := parseHeader(h.encode(), dataLen)
		require.NoError(t, err)
		require.Equal(t, h, h2)
	})
}

func uint64FromLE(b []byte) uint64 {
	var w uint64
	for i := 7; i >= 0; i-- {
		w = w<<8 | uint64(b[i])
	}
	return w
}

// fuzzVal is the value of the fuzzed maps: 12 bytes, so two words, the
// second one partial.
type fuzzVal [3]uint32

// FuzzLoadVsLocked applies a fuzzed sequence of operations to a small map
// and to a Go map, and after each one looks every key up three ways: the
// lock-free read, the locked read (its slow twin), and the Go map. All
// three must agree, bit for bit.
func FuzzLoadVsLocked(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 2, 3, 1, 1, 0, 4, 5, 6, 3, 2, 0})
	f.Add([]byte("store and delete every key in a tiny table, over and over and over"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		m, err := CreateAnon[uint16, fuzzVal](12, Stripes(3))
		require.NoError(t, err)
		defer m.Close()
		model := map[uint16]fuzzVal{}
		for i := 0; i+2 < len(ops); i += 3 {
			k := uint16(ops[i+1] % 40)
			v := fuzzVal{uint32(ops[i+2]), uint32(i), uint32(ops[i+2]) * 7}
			_, present := model[k]
			full := !present && len(model) == m.Cap()
			switch ops[i] % 5 {
			case 0:
				err := m.Store(k, v)
				if full {
					require.ErrorIs(t, err, ErrFull)
					continue
				}
				require.NoError(t, err)
				model[k] = v
			case 1:
				require.NoError(t, m.Delete(k))
				delete(model, k)
			case 2:
				got, loaded, err := m.LoadOrStore(k, v)
				if full {
					require.ErrorIs(t, err, ErrFull)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, present, loaded)
				if !present {
					model[k] = v
				}
				require.Equal(t, model[k], got)
			case 3:
				old := model[k]
				swapped, err := m.CompareAndSwap(k, old, v)
				require.NoError(t, err)
				require.Equal(t, present, swapped)
				if present {
					model[k] = v
				}
			case 4:
				require.NoError(t, m.Clear())
				clear(model)
			}
			requireAgree(t, m, model)
		}
		got := map[uint16]fuzzVal{}
		require.NoError(t, m.Range(func(k uint16, v fuzzVal) bool { got[k] = v; return true }))
		require.True(t, maps.Equal(model, got))
		require.NoError(t, m.Check())
	})
}

// requireAgree looks up keys [0, 40) lock-free, locked and in model.
func requireAgree(t *testing.T, m *Map[uint16, fuzzVal], model map[uint16]fuzzVal) {
	t.Helper()
	require.Equal(t, len(model), m.Len())
	var buf [kbufWords]uint64
	for k := range uint16(40) {
		kw, b, _, err := m.prep(&k, buf[:])
		require.NoError(t, err)
		var free, locked fuzzVal
		res := m.t.tryLoad(b, kw, bytesOf(&free, m.t.vsize))
		ok, err := m.loadLocked(b, kw, bytesOf(&locked, m.t.vsize))
		require.NoError(t, err)
		want, present := model[k]
		require.Equal(t, present, ok, "key %d, locked", k)
		require.Equal(t, present, res == readHit, "key %d, lock-free: result %d", k, res)
		if present {
			require.Equal(t, want, free, "key %d, lock-free", k)
			require.Equal(t, want, locked, "key %d, locked", k)
		}
	}
}

// FuzzDamage fills a small map, overwrites fuzzed bytes of its allocator
// bitmap and its slots (bucket words and entries: damage from outside, a
// stray write, a bad disk), and then uses
// it: no operation may panic or hang, and every error it returns must be
// ErrCorrupt (or ErrFull). The stripes' lock words are left alone here
// (TestDamagedLocks covers them).
func FuzzDamage(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0}, []byte{})
	f.Add([]byte{3, 9, 200, 17, 1, 1}, []byte{1, 2, 3})
	f.Add([]byte{0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, damage []byte, deletes []byte) {
		m, err := CreateAnon[uint16, fuzzVal](12, Stripes(2))
		require.NoError(t, err)
		defer m.Close()
		for k := range uint16(10) {
			require.NoError(t, m.Store(k, fuzzVal{uint32(k)}))
		}
		for _, d := range deletes {
			require.NoError(t, m.Delete(uint16(d%10)))
		}
		data := unsafe.Slice((*byte)(m.t.bitmap), m.t.hdr.end-m.t.hdr.bitmapOff)
		for i := 0; i+1 < len(damage); i += 2 {
			off := (int(damage[i])<<8 | int(damage[i+1])) % len(data)
			if i+2 < len(damage) {
				data[off] = damage[i+2]
				i++
			}
		}
		ok := func(err error) {
			t.Helper()
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFull) {
				t.Fatalf("unexpected error: %v", err)
			}
		}
		for k := range uint16(16) {
			_, _, err := m.Load(k)
			ok(err)
		}
		ok(m.Range(func(uint16, fuzzVal) bool { return true }))
		_ = m.Len()
		ok(m.Check())
		for k := range uint16(16) {
			ok(m.Store(k, fuzzVal{1}))
			_, err := m.CompareAndSwap(k+1, fuzzVal{1}, fuzzVal{2})
			ok(err)
			ok(m.Delete(k + 2))
		}
		ok(m.Clear())
		ok(m.Check())
	})
}

// FuzzStringKeys is FuzzLoadVsLocked for string keys of every length up to
// the map's maximum and past it: keys are cut from the fuzzed bytes, stored
// and deleted, and every key is looked up lock-free, locked and in a Go map.
func FuzzStringKeys(f *testing.F) {
	f.Add([]byte("alice\x00bob\x00alice\x01\x00\x00a\x00"))
	f.Add([]byte("longer than twelve bytes\x00short\x00\x00\x00x\x00short\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := CreateAnon[string, uint64](8, Stripes(2), MaxKeyLen(12))
		require.NoError(t, err)
		defer m.Close()
		model := map[string]uint64{}
		var keys []string
		for i, part := range bytes.Split(b, []byte{0}) {
			k := string(part)
			if len(k) > 0 && k[len(k)-1] == 1 { // a key ending in \x01 is deleted
				k = k[:len(k)-1]
				require.NoError(t, m.Delete(k))
				delete(model, k)
				keys = append(keys, k)
				continue
			}
			keys = append(keys, k)
			err := m.Store(k, uint64(i))
			_, present := model[k]
			switch {
			case len(k) > 12:
				require.ErrorIs(t, err, ErrKeyTooLong)
			case !present && len(model) == m.Cap():
				require.ErrorIs(t, err, ErrFull)
			default:
				require.NoError(t, err)
				model[k] = uint64(i)
			}
		}
		require.Equal(t, len(model), m.Len())
		var buf [kbufWords]uint64
		for _, k := range keys {
			want, present := model[k]
			v, ok, err := m.Load(k)
			require.NoError(t, err)
			require.Equal(t, present, ok, "%q", k)
			require.Equal(t, want, v, "%q", k)
			kw, bkt, fits, err := m.prep(&k, buf[:])
			require.NoError(t, err)
			if !fits {
				require.False(t, present)
				continue
			}
			var locked uint64
			ok, err = m.loadLocked(bkt, kw, bytesOf(&locked, 8))
			require.NoError(t, err)
			require.Equal(t, present, ok, "%q locked", k)
			require.Equal(t, want, locked, "%q locked", k)
		}
		got := map[string]uint64{}
		require.NoError(t, m.Range(func(k string, v uint64) bool { got[k] = v; return true }))
		require.True(t, maps.Equal(model, got))
		require.NoError(t, m.Check())
	})
}

// FuzzWordValues is FuzzLoadVsLocked for values of one word, whose
// overwrite takes the short path (one store, no journal): every operation
// is mirrored in a Go map, and after each one every key is looked up
// lock-free, locked and in the Go map; the map must pass Check at the end.
// The table is small and fills, so inserts take their home slot, a slot of
// the home block, one of the page and ones the bitmap search finds.
func FuzzWordValues(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 2, 3, 1, 1, 0, 4, 5, 6, 3, 2, 0, 5, 7, 9})
	f.Add([]byte("fill the table with words, then swap and delete them all again, twice"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		m, err := CreateAnon[uint16, uint64](20, Stripes(3))
		require.NoError(t, err)
		defer m.Close()
		model := map[uint16]uint64{}
		var buf [kbufWords]uint64
		for i := 0; i+2 < len(ops); i += 3 {
			k := uint16(ops[i+1] % 60)
			v := uint64(ops[i+2])<<32 | uint64(i)
			old, present := model[k]
			full := !present && len(model) == m.Cap()
			switch ops[i] % 6 {
			case 0:
				err := m.Store(k, v)
				if full {
					require.ErrorIs(t, err, ErrFull)
					continue
				}
				require.NoError(t, err)
				model[k] = v
			case 1:
				require.NoError(t, m.Delete(k))
				delete(model, k)
			case 2:
				prev, loaded, err := m.Swap(k, v)
				if full {
					require.ErrorIs(t, err, ErrFull)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, present, loaded)
				require.Equal(t, old, prev)
				model[k] = v
			case 3:
				swapped, err := m.CompareAndSwap(k, old, v)
				require.NoError(t, err)
				require.Equal(t, present, swapped)
				if present {
					model[k] = v
				}
			case 4:
				got, err := m.Update(k, func(o uint64, loaded bool) uint64 { return o + v })
				if full {
					require.ErrorIs(t, err, ErrFull)
					continue
				}
				require.NoError(t, err)
				model[k] = old + v
				require.Equal(t, model[k], got)
			case 5:
				got, loaded, err := m.LoadAndDelete(k)
				require.NoError(t, err)
				require.Equal(t, present, loaded)
				require.Equal(t, old, got)
				delete(model, k)
			}
			require.Equal(t, len(model), m.Len())
			for k := range uint16(60) {
				kw, b, _, err := m.prep(&k, buf[:])
				require.NoError(t, err)
				var free, locked uint64
				res := m.t.tryLoad(b, kw, bytesOf(&free, 8))
				ok, err := m.loadLocked(b, kw, bytesOf(&locked, 8))
				require.NoError(t, err)
				want, present := model[k]
				require.Equal(t, present, ok, "key %d, locked", k)
				require.Equal(t, present, res == readHit, "key %d, lock-free: result %d", k, res)
				if present {
					require.Equal(t, want, free, "key %d, lock-free", k)
					require.Equal(t, want, locked, "key %d, locked", k)
				}
			}
		}
		got := map[uint16]uint64{}
		require.NoError(t, m.Range(func(k uint16, v uint64) bool { got[k] = v; return true }))
		require.True(t, maps.Equal(model, got))
		require.NoError(t, m.Check())
	})
}
