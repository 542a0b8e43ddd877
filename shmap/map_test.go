//go:build linux

package shmap_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// newMap creates a map in a fresh directory and checks it in t.Cleanup:
// whatever a test did, the map must pass Check afterwards.
func newMap[K comparable, V any](t *testing.T, capacity int, opts ...shmap.Option) (*shmap.Map[K, V], string) {
	t.Helper()
	dir := t.TempDir()
	m, err := shmap.Create[K, V]("m", capacity, append([]shmap.Option{shmap.Dir(dir)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := m.Check(); err != nil && !errors.Is(err, shmap.ErrClosed) {
			t.Errorf("map fails its check at the end of the test: %v", err)
		}
		m.Close()
	})
	return m, dir
}

func TestBasics(t *testing.T) {
	m, _ := newMap[uint64, int64](t, 100)
	require.Equal(t, 100, m.Cap())
	require.Equal(t, 0, m.Len())

	_, ok, err := m.Load(7)
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, m.Store(7, 70))
	v, ok, err := m.Load(7)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(70), v)
	require.Equal(t, 1, m.Len())

	require.NoError(t, m.Store(7, 71), "overwrite")
	v, _, _ = m.Load(7)
	require.Equal(t, int64(71), v)
	require.Equal(t, 1, m.Len())

	actual, loaded, err := m.LoadOrStore(7, 99)
	require.NoError(t, err)
	require.True(t, loaded)
	require.Equal(t, int64(71), actual)
	actual, loaded, err = m.LoadOrStore(8, 80)
	require.NoError(t, err)
	require.False(t, loaded)
	require.Equal(t, int64(80), actual)
	require.Equal(t, 2, m.Len())

	prev, loaded, err := m.Swap(8, 81)
	require.NoError(t, err)
	require.True(t, loaded)
	require.Equal(t, int64(80), prev)
	prev, loaded, err = m.Swap(9, 90)
	require.NoError(t, err)
	require.False(t, loaded)
	require.Zero(t, prev)

	swapped, err := m.CompareAndSwap(9, 1, 2)
	require.NoError(t, err)
	require.False(t, swapped, "old value does not match")
	swapped, err = m.CompareAndSwap(9, 90, 91)
	require.NoError(t, err)
	require.True(t, swapped)
	swapped, err = m.CompareAndSwap(10, 0, 1)
	require.NoError(t, err)
	require.False(t, swapped, "absent key is never swapped")
	_, ok, _ = m.Load(10)
	require.False(t, ok)

	deleted, err := m.CompareAndDelete(9, 90)
	require.NoError(t, err)
	require.False(t, deleted)
	deleted, err = m.CompareAndDelete(9, 91)
	require.NoError(t, err)
	require.True(t, deleted)

	v, loaded, err = m.LoadAndDelete(8)
	require.NoError(t, err)
	require.True(t, loaded)
	require.Equal(t, int64(81), v)
	_, loaded, err = m.LoadAndDelete(8)
	require.NoError(t, err)
	require.False(t, loaded)

	got, err := m.Update(7, func(old int64, loaded bool) int64 {
		require.True(t, loaded)
		return old + 1
	})
	require.NoError(t, err)
	require.Equal(t, int64(72), got)
	got, err = m.Update(11, func(old int64, loaded bool) int64 {
		require.False(t, loaded)
		require.Zero(t, old)
		return 5
	})
	require.NoError(t, err)
	require.Equal(t, int64(5), got)

	require.NoError(t, m.Delete(7))
	require.NoError(t, m.Delete(7), "deleting an absent key is no error")
	require.Equal(t, 1, m.Len())

	seen := map[uint64]int64{}
	require.NoError(t, m.Range(func(k uint64, v int64) bool { seen[k] = v; return true }))
	require.Equal(t, map[uint64]int64{11: 5}, seen)

	require.NoError(t, m.Clear())
	require.Equal(t, 0, m.Len())
	_, ok, _ = m.Load(11)
	require.False(t, ok)
}

// TestFull fills a map to its capacity exactly: the next new key is
// refused with ErrFull and nothing is overwritten, while existing keys can
// still be updated; after a delete there is room for exactly one more.
func TestFull(t *testing.T) {
	for _, capacity := range []int{1, 2, 7, 100, 1000} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			m, _ := newMap[int32, int32](t, capacity)
			for i := range capacity {
				require.NoError(t, m.Store(int32(i), int32(-i)))
			}
			require.Equal(t, capacity, m.Len())
			err := m.Store(-1, 1)
			require.ErrorIs(t, err, shmap.ErrFull)
			require.ErrorContains(t, err, "map full")
			_, _, err = m.LoadOrStore(-1, 1)
			require.ErrorIs(t, err, shmap.ErrFull)
			_, err = m.Update(-1, func(int32, bool) int32 { return 1 })
			require.ErrorIs(t, err, shmap.ErrFull)
			_, ok, _ := m.Load(-1)
			require.False(t, ok)
			for i := range capacity {
				v, ok, err := m.Load(int32(i))
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, int32(-i), v, "nothing was overwritten")
			}
			require.NoError(t, m.Store(0, 100), "an existing key is updated in a full map")
			require.NoError(t, m.Delete(int32(capacity-1)))
			require.NoError(t, m.Store(-1, 1))
			require.ErrorIs(t, m.Store(-2, 1), shmap.ErrFull)
			require.Equal(t, capacity, m.Len())
		})
	}
}

// TestChurn inserts and deletes many more keys than the map holds, in an
// order that reuses every entry many times: Len, Load of present and absent
// keys, and Check stay right throughout, and the whole capacity is usable
// at the end (no entry lost).
func TestChurn(t *testing.T) {
	const capacity = 500
	m, _ := newMap[uint64, uint64](t, capacity, shmap.Stripes(7))
	want := map[uint64]uint64{}
	x := uint64(1)
	for round := range 40 {
		for range 3 * capacity {
			x = x*6364136223846793005 + 1442695040888963407
			k := x >> 54 // 1024 distinct keys, twice the capacity
			if _, ok := want[k]; ok || len(want) == capacity {
				if x&1 == 0 || len(want) == capacity {
					for k2 := range want { // delete some key
						delete(want, k2)
						require.NoError(t, m.Delete(k2))
						break
					}
				}
				continue
			}
			want[k] = x
			require.NoError(t, m.Store(k, x))
		}
		require.Equal(t, len(want), m.Len(), "round %d", round)
		for k := range uint64(1024) {
			v, ok, err := m.Load(k)
			require.NoError(t, err)
			w, wok := want[k]
			require.Equal(t, wok, ok, "key %d", k)
			require.Equal(t, w, v, "key %d", k)
		}
		require.NoError(t, m.Check(), "round %d", round)
	}
	require.NoError(t, m.Clear())
	for i := range capacity {
		require.NoError(t, m.Store(uint64(1e6+i), 1))
	}
	require.ErrorIs(t, m.Store(1, 1), shmap.ErrFull)
}

func TestStringKeys(t *testing.T) {
	m, dir := newMap[string, float64](t, 10, shmap.MaxKeyLen(12))
	require.Equal(t, 12, m.MaxKeyLen())
	keys := []string{"", "a", "alice", "exactly8", "twelve bytes", "twelve byteS"}
	for i, k := range keys {
		require.NoError(t, m.Store(k, float64(i)+0.5))
	}
	for i, k := range keys {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		require.True(t, ok, "%q", k)
		require.Equal(t, float64(i)+0.5, v)
	}
	_, ok, err := m.Load("alic")
	require.NoError(t, err)
	require.False(t, ok, "a prefix is another key")
	_, ok, err = m.Load("alice\x00")
	require.NoError(t, err)
	require.False(t, ok, "a NUL-extended key is another key")

	err = m.Store("thirteen byte", 1)
	require.ErrorIs(t, err, shmap.ErrKeyTooLong)
	require.ErrorContains(t, err, "13 bytes")
	_, ok, err = m.Load("thirteen byte")
	require.NoError(t, err, "a key too long to be stored is simply absent")
	require.False(t, ok)

	got := map[string]float64{}
	require.NoError(t, m.Range(func(k string, v float64) bool { got[k] = v; return true }))
	require.Len(t, got, len(keys))
	require.Equal(t, 4.5, got["twelve bytes"])

	// A named string type is the same key type.
	type name string
	o, err := shmap.Open[name, float64]("m", shmap.Dir(dir))
	require.NoError(t, err)
	defer o.Close()
	v, ok, err := o.Load(name("alice"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2.5, v)
}

// point is a key type: a struct of integers with no padding.
type point struct{ X, Y int32 }

// sample is a value type with padding, a float and an array.
type sample struct {
	Flag  bool
	N     int64
	Mean  float64
	Label [5]byte
}

func TestStructKeysAndValues(t *testing.T) {
	m, _ := newMap[point, sample](t, 64)
	for i := range int32(64) {
		require.NoError(t, m.Store(point{i, -i}, sample{Flag: i%2 == 0, N: int64(i), Mean: float64(i) / 3, Label: [5]byte{byte(i), 1, 2, 3, 4}}))
	}
	for i := range int32(64) {
		v, ok, err := m.Load(point{i, -i})
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, sample{Flag: i%2 == 0, N: int64(i), Mean: float64(i) / 3, Label: [5]byte{byte(i), 1, 2, 3, 4}}, v)
		_, ok, _ = m.Load(point{-i - 1, i})
		require.False(t, ok)
	}
	// Byte-array keys and a zero-size value: a set.
	set, _ := newMap[[3]byte, struct{}](t, 4)
	require.NoError(t, set.Store([3]byte{'a', 'b', 'c'}, struct{}{}))
	_, ok, err := set.Load([3]byte{'a', 'b', 'c'})
	require.NoError(t, err)
	require.True(t, ok)
	_, ok, _ = set.Load([3]byte{'a', 'b', 'd'})
	require.False(t, ok)
}

func TestBadTypes(t *testing.T) {
	dir := t.TempDir()
	check := func(err error, sentinel error, text string) {
		t.Helper()
		require.ErrorIs(t, err, sentinel)
		require.ErrorContains(t, err, text)
		entries, _ := os.ReadDir(dir)
		require.Empty(t, entries, "nothing is created for a refused type")
	}
	_, err := shmap.Create[int64, *int]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "pointers")
	_, err = shmap.Create[int64, string]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "string holds pointers")
	_, err = shmap.Create[int64, []byte]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "slice")
	_, err = shmap.Create[int64, struct {
		A int64
		M map[int]int
	}]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "field M")
	_, err = shmap.Create[int64, any]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "interface")
	_, err = shmap.Create[float64, int64]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrKeyType, "math.Float64bits")
	_, err = shmap.Create[struct {
		A int8
		B int64
	}, int64]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrKeyType, "padding before field B")
	_, err = shmap.Create[struct {
		A int64
		B int8
	}, int64]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrKeyType, "padding at the end")
	_, err = shmap.Create[*int, int64]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrKeyType, "pointers")
	_, err = shmap.Create[[2000]byte, int64]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrKeyType, "2000 bytes")
	_, err = shmap.Create[int64, [100000]byte]("x", 10, shmap.Dir(dir))
	check(err, shmap.ErrValueType, "100000 bytes")

	for _, c := range []int{0, -1, shmap.MaxCapacity + 1} {
		_, err = shmap.Create[int64, int64]("x", c, shmap.Dir(dir))
		check(err, shmap.ErrCapacity, fmt.Sprint(c))
	}
	_, err = shmap.Create[int64, int64]("x", 10, shmap.Dir(dir), shmap.Stripes(0))
	check(err, shmap.ErrCapacity, "0 stripes")
	_, err = shmap.Create[string, int64]("x", 10, shmap.Dir(dir), shmap.MaxKeyLen(0))
	check(err, shmap.ErrCapacity, "string keys")
	_, err = shmap.Create[int64, [64 << 10]byte]("x", shmap.MaxCapacity, shmap.Dir(dir))
	check(err, shmap.ErrCapacity, "more than a segment holds")

	for _, name := range []string{"", "a/b", "..", strings.Repeat("n", 300)} {
		_, err = shmap.Create[int64, int64](name, 10, shmap.Dir(dir))
		check(err, shm.ErrBadName, "invalid segment name")
	}
}

func TestOpenChecksTypes(t *testing.T) {
	m, dir := newMap[point, sample](t, 8)
	require.NoError(t, m.Store(point{1, 2}, sample{N: 3}))

	o, err := shmap.Open[point, sample]("m", shmap.Dir(dir))
	require.NoError(t, err)
	v, ok, err := o.Load(point{1, 2})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(3), v.N)
	require.NoError(t, o.Close())

	// Same layout, other names: accepted.
	type point2 struct{ X, Y int32 }
	o2, err := shmap.Open[point2, sample]("m", shmap.Dir(dir))
	require.NoError(t, err)
	require.NoError(t, o2.Close())

	_, err = shmap.Open[int64, sample]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrKeyType)
	require.ErrorContains(t, err, "shmap_test.point")
	_, err = shmap.Open[struct{ Y, X int32 }, sample]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrKeyType, "fields in another order are another type")
	_, err = shmap.Open[string, sample]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrKeyType)
	_, err = shmap.Open[point, int64]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrValueType)
	require.ErrorContains(t, err, "shmap_test.sample")
	_, err = shmap.Open[point, [40]byte]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrValueType, "same size, other layout")
	_, err = shmap.Open[point, *int]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrValueType)

	_, err = shmap.Open[point, sample]("nothing", shmap.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)

	// Another kind of segment; raw bytes, with or without a map's magic
	// (maps were raw segments before they had a kind of their own); a map
	// segment without the magic, and one too short for the header.
	s, err := shm.Create("array", shm.Meta{DType: shm.Float64, Shape: []int{10}, Kind: shm.KindArray}, shm.Dir(dir))
	require.NoError(t, err)
	s.Close()
	_, err = shmap.Open[point, sample]("array", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "a segment of kind array (float64, shape [10])")
	s, err = shm.Create("raw", shm.Meta{DType: shm.Uint8, Shape: []int{4096}}, shm.Dir(dir))
	require.NoError(t, err)
	s.Close()
	_, err = shmap.Open[point, sample]("raw", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "a segment of kind raw (uint8, shape [4096])")
	s, err = shm.Create("old", shm.Meta{DType: shm.Uint8, Shape: []int{4096}}, shm.Dir(dir))
	require.NoError(t, err)
	copy(s.Data(), "SHMAP\x00\x00\x01\x01\x00\x00\x00")
	s.Close()
	_, err = shmap.Open[point, sample]("old", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "before maps had their own segment kind; create it again")
	s, err = shm.Create("nomagic", shm.Meta{DType: shm.Uint8, Shape: []int{4096}, Kind: shm.KindMap}, shm.Dir(dir))
	require.NoError(t, err)
	copy(s.Data(), "not a map") // a young segment with no magic at all is waited for (TestOpenWhileCreating)
	s.Close()
	_, err = shmap.Open[point, sample]("nomagic", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "no map magic")
	s, err = shm.Create("tiny", shm.Meta{DType: shm.Uint8, Shape: []int{100}, Kind: shm.KindMap}, shm.Dir(dir))
	require.NoError(t, err)
	s.Close()
	_, err = shmap.Open[point, sample]("tiny", shmap.Dir(dir))
	require.ErrorIs(t, err, shmap.ErrNotMap)
	require.ErrorContains(t, err, "cannot hold")
}

func TestClosed(t *testing.T) {
	m, dir := newMap[int64, int64](t, 8)
	require.NoError(t, m.Store(1, 1))
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close is idempotent")
	_, _, err := m.Load(1)
	require.ErrorIs(t, err, shmap.ErrClosed)
	require.ErrorIs(t, m.Store(1, 2), shmap.ErrClosed)
	require.ErrorIs(t, m.Delete(1), shmap.ErrClosed)
	require.ErrorIs(t, m.Range(func(int64, int64) bool { return true }), shmap.ErrClosed)
	require.ErrorIs(t, m.Clear(), shmap.ErrClosed)
	require.Equal(t, 0, m.Len())
	_, err = m.GobEncode()
	require.Error(t, err)
	// The map itself is still there.
	o, err := shmap.Open[int64, int64]("m", shmap.Dir(dir))
	require.NoError(t, err)
	defer o.Close()
	v, _, _ := o.Load(1)
	require.Equal(t, int64(1), v)
	require.NoError(t, o.Unlink())
	_, err = os.Stat(filepath.Join(dir, "m"))
	require.True(t, os.IsNotExist(err))
}

func TestAnon(t *testing.T) {
	m, err := shmap.CreateAnon[uint64, uint64](16)
	require.NoError(t, err)
	defer m.Close()
	require.True(t, strings.HasPrefix(m.Path(), "/proc/"), m.Path())
	require.NoError(t, m.Store(1, 2))
	require.NoError(t, m.Unlink(), "nothing to unlink")
	v, ok, err := m.Load(1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(2), v)
}

// TestGoroutines hammers one map from goroutines of one process (the race
// detector checks the lock-free reads against the writes here; processes
// are tested in proc_test.go).
func TestGoroutines(t *testing.T) {
	m, _ := newMap[uint32, [3]uint64](t, 256, shmap.Stripes(4))
	const writers, n = 4, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				k := uint32(i % 64)
				_, err := m.Update(k, func(old [3]uint64, _ bool) [3]uint64 {
					return sealed(old[0]+1, uint64(w))
				})
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == 0 {
					if err := m.Delete(uint32(64 + w)); err != nil {
						t.Error(err)
						return
					}
				} else if err := m.Store(uint32(64+w), sealed(uint64(i), 9)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var rg sync.WaitGroup
	for range 2 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for k := range uint32(68) {
					v, ok, err := m.Load(k)
					if err != nil {
						t.Error(err)
						return
					}
					if ok && !checkSealed(v) {
						t.Errorf("key %d: torn value %v", k, v)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	total := uint64(0)
	for k := range uint32(64) {
		v, ok, err := m.Load(k)
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, checkSealed(v))
		total += v[0]
	}
	require.Equal(t, uint64(writers*n), total, "every increment counted once")
}

// sealed returns a value whose third word checks the first two, so that a
// reader can tell a value torn between two writes.
func sealed(a, b uint64) [3]uint64 { return [3]uint64{a, b, seal(a, b)} }

func seal(a, b uint64) uint64 { return (a*0x9e3779b97f4a7c15 ^ b) * 0xbf58476d1ce4e5b9 }

func checkSealed(v [3]uint64) bool { return v[2] == seal(v[0], v[1]) }

// TestUpdatePanics checks that a panic in Update's function stores nothing
// and releases the stripe: the next writer of the key does not wait.
func TestUpdatePanics(t *testing.T) {
	m, _ := newMap[uint64, uint64](t, 8, shmap.Stripes(1))
	require.NoError(t, m.Store(1, 10))
	require.PanicsWithValue(t, "boom", func() {
		m.Update(1, func(old uint64, _ bool) uint64 { panic("boom") })
	})
	done := make(chan error, 1)
	go func() { done <- m.Store(1, 11) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the stripe stayed locked after the panic")
	}
	v, _, err := m.Load(1)
	require.NoError(t, err)
	require.Equal(t, uint64(11), v)
}

// TestSegmentOptions checks that Mode and Persistent reach the segment.
func TestSegmentOptions(t *testing.T) {
	dir := t.TempDir()
	m, err := shmap.Create[int64, int64]("m", 4, shmap.Dir(dir), shmap.Mode(0o640), shmap.Persistent())
	require.NoError(t, err)
	defer m.Close()
	fi, err := os.Stat(filepath.Join(dir, "m"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	require.NotZero(t, m.Segment().Meta().Flags&shm.FlagPersistent)
	require.Equal(t, "m", m.Name())
	require.Equal(t, filepath.Join(dir, "m"), m.Path())
}

// TestGobDecodeRefusesOthers decodes references to segments that are not
// maps: each is refused with ErrNotMap, naming the kind, before anything is
// attached.
func TestGobDecodeRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	for _, meta := range []shm.Meta{
		{DType: shm.Float64, Shape: []int{10}, Kind: shm.KindArray},
		{DType: shm.Uint8, Shape: []int{4096}, Kind: shm.KindRaw},
		{DType: shm.Uint8, Shape: []int{4096}, Kind: shm.KindQueue},
	} {
		s, err := shm.Create("seg-"+meta.Kind.String(), meta, shm.Dir(dir))
		require.NoError(t, err)
		b, err := shm.RefOf(s).MarshalBinary()
		require.NoError(t, err)
		s.Close()
		var m shmap.Map[uint64, uint64]
		err = m.GobDecode(b)
		require.ErrorIs(t, err, shmap.ErrNotMap)
		require.ErrorContains(t, err, "a segment of kind "+meta.Kind.String())
	}
}

// TestInspect reads a map's description with no types, and refuses what is
// not a map.
func TestInspect(t *testing.T) {
	m, dir := newMap[point, sample](t, 50, shmap.Stripes(4))
	for i := range int32(7) {
		require.NoError(t, m.Store(point{i, -i}, sample{}))
	}
	seg, err := shm.Open("m", shm.Dir(dir))
	require.NoError(t, err)
	defer seg.Close()
	info, err := shmap.Inspect(seg)
	require.NoError(t, err)
	require.Equal(t, shmap.Info{KeyType: "shmap_test.point", ValueType: "shmap_test.sample", KeySize: 8,
		ValueSize: int(unsafe.Sizeof(sample{})), Capacity: 50, Len: 7, Stripes: 4, Version: shmap.Version}, info)

	s, err := shm.Create("array", shm.Meta{DType: shm.Float64, Shape: []int{10}, Kind: shm.KindArray}, shm.Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	_, err = shmap.Inspect(s)
	require.ErrorIs(t, err, shmap.ErrNotMap)
	bad, err := shm.Create("nomagic", shm.Meta{DType: shm.Uint8, Shape: []int{4096}, Kind: shm.KindMap}, shm.Dir(dir))
	require.NoError(t, err)
	defer bad.Close()
	_, err = shmap.Inspect(bad)
	require.ErrorIs(t, err, shmap.ErrNotMap)
}
