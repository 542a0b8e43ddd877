//go:build linux

package shmap_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// rwMap is the baseline: a Go map under a sync.RWMutex, in one process.
type rwMap struct {
	mu sync.RWMutex
	m  map[uint64]uint64
}

func (r *rwMap) Load(k uint64) (uint64, bool) {
	r.mu.RLock()
	v, ok := r.m[k]
	r.mu.RUnlock()
	return v, ok
}

func (r *rwMap) Store(k, v uint64) {
	r.mu.Lock()
	r.m[k] = v
	r.mu.Unlock()
}

func (r *rwMap) LoadOrStore(k, v uint64) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[k]; ok {
		return old, true
	}
	r.m[k] = v
	return v, false
}

// benchSizes are the maps of the single-process benchmarks: one that fits
// in the caches and one that does not, both full, and the big one again
// with twice the capacity (half full; no baseline).
var benchSizes = []struct{ keys, capacity int }{{1 << 10, 1 << 10}, {1 << 20, 1 << 20}, {1 << 20, 1 << 21}}

// benchName names a benchmark of a map of keys keys and the given
// capacity.
func benchName(kind string, keys, capacity int) string {
	if capacity != keys {
		return fmt.Sprintf("%s/keys=%d/cap=%d", kind, keys, capacity)
	}
	return fmt.Sprintf("%s/keys=%d", kind, keys)
}

func newBenchMap(b *testing.B, keys, capacity int) (*shmap.Map[uint64, uint64], *rwMap) {
	b.Helper()
	m, err := shmap.Create[uint64, uint64]("bench", capacity, shmap.Dir(b.TempDir()))
	require.NoError(b, err)
	b.Cleanup(func() { m.Close() })
	r := &rwMap{m: make(map[uint64]uint64, keys)}
	for k := range uint64(keys) {
		require.NoError(b, m.Store(k, k))
		r.m[k] = k
	}
	return m, r
}

// BenchmarkLoad loads existing keys in a scattered order (a multiplicative
// step through the key space), from one goroutine: shmap against a Go map
// under a sync.RWMutex.
func BenchmarkLoad(b *testing.B) {
	for _, size := range benchSizes {
		keys := size.keys
		m, r := newBenchMap(b, keys, size.capacity)
		mask := uint64(keys - 1)
		b.Run(benchName("shmap", keys, size.capacity), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				if v, ok, err := m.Load(k); err != nil || !ok || v != k {
					b.Fatal(k, v, ok, err)
				}
			}
		})
		if size.capacity != keys {
			continue
		}
		b.Run(benchName("rwmutex-map", keys, keys), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				if v, ok := r.Load(k); !ok || v != k {
					b.Fatal(k, v, ok)
				}
			}
		})
	}
}

// BenchmarkStore overwrites existing keys, from one goroutine.
func BenchmarkStore(b *testing.B) {
	for _, size := range benchSizes {
		keys := size.keys
		m, r := newBenchMap(b, keys, size.capacity)
		mask := uint64(keys - 1)
		b.Run(benchName("shmap", keys, size.capacity), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				if err := m.Store(k, k); err != nil {
					b.Fatal(err)
				}
			}
		})
		if size.capacity != keys {
			continue
		}
		b.Run(benchName("rwmutex-map", keys, keys), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				r.Store(k, k)
			}
		})
	}
}

// BenchmarkLoadOrStore calls LoadOrStore on existing keys (the common case
// of a setdefault), from one goroutine.
func BenchmarkLoadOrStore(b *testing.B) {
	for _, size := range benchSizes {
		keys := size.keys
		m, r := newBenchMap(b, keys, size.capacity)
		mask := uint64(keys - 1)
		b.Run(benchName("shmap", keys, size.capacity), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				if v, loaded, err := m.LoadOrStore(k, 0); err != nil || !loaded || v != k {
					b.Fatal(k, v, loaded, err)
				}
			}
		})
		if size.capacity != keys {
			continue
		}
		b.Run(benchName("rwmutex-map", keys, keys), func(b *testing.B) {
			k := uint64(0)
			for b.Loop() {
				k = (k + 0x9e3779b9) & mask
				if v, loaded := r.LoadOrStore(k, 0); !loaded || v != k {
					b.Fatal(k, v, loaded)
				}
			}
		})
	}
}

// BenchmarkInsertDelete stores a new key and deletes it again: the
// allocator's path, which Store over an existing key never takes.
func BenchmarkInsertDelete(b *testing.B) {
	m, r := newBenchMap(b, 1<<10, 1<<10)
	b.Run("shmap", func(b *testing.B) {
		require.NoError(b, m.Delete(0))
		for b.Loop() {
			if err := m.Store(0, 1); err != nil {
				b.Fatal(err)
			}
			if err := m.Delete(0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rwmutex-map", func(b *testing.B) {
		for b.Loop() {
			r.Store(0, 1)
			r.mu.Lock()
			delete(r.m, 0)
			r.mu.Unlock()
		}
	})
}

// readBatch is the number of loads each reader does per benchmark round.
const readBatch = 1 << 20

// BenchmarkLoadParallel measures read throughput with 1 and 2 readers:
// shmap read by reader processes (each round, every reader loads readBatch
// keys of a 1024-key map), and the baseline Go map under a sync.RWMutex
// read by goroutines of one process. It reports the loads per second of all
// readers together and, for 2 readers, the speed-up over 1 (speedup-x,
// from the run at 1 in the same invocation). The figures need idle cores.
func BenchmarkLoadParallel(b *testing.B) {
	const keys = 1 << 10
	single := map[string]float64{}
	report := func(b *testing.B, kind string, readers, loads int) {
		rate := float64(loads) / b.Elapsed().Seconds()
		b.ReportMetric(rate/1e6, "Mloads/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(loads), "ns/load")
		if readers == 1 {
			single[kind] = rate
		} else if single[kind] > 0 {
			b.ReportMetric(rate/single[kind], "speedup-x")
		}
	}
	for _, readers := range []int{1, 2} {
		b.Run(fmt.Sprintf("shmap/procs=%d", readers), func(b *testing.B) {
			dir := b.TempDir()
			ctl := newCtl(b, dir)
			m, err := shmap.Create[uint64, uint64]("bench", keys, shmap.Dir(dir))
			require.NoError(b, err)
			defer m.Close()
			for k := range uint64(keys) {
				require.NoError(b, m.Store(k, k))
			}
			cs := make([]*testproc.Child, readers)
			for i := range cs {
				cs[i] = testproc.Start("bench-reader", childEnv(dir, "KEYS", keys, "BATCH", readBatch)...)
			}
			waitFor(b, "the readers to start", func() bool { return atomic.LoadUint64(&ctl[cReady]) == uint64(readers) })
			loads := 0
			for b.Loop() {
				done := atomic.LoadUint64(&ctl[cDone])
				atomic.AddUint64(&ctl[cGen], 1)
				waitFor(b, "a round of loads", func() bool { return atomic.LoadUint64(&ctl[cDone]) == done+uint64(readers) })
				loads += readers * readBatch
			}
			report(b, "shmap", readers, loads)
			atomic.StoreUint64(&ctl[cStop], 1)
			for _, c := range cs {
				out, err := c.Wait()
				require.NoError(b, err, out)
			}
		})
		b.Run(fmt.Sprintf("rwmutex-map/goroutines=%d", readers), func(b *testing.B) {
			r := &rwMap{m: make(map[uint64]uint64, keys)}
			for k := range uint64(keys) {
				r.m[k] = k
			}
			loads := 0
			for b.Loop() {
				var wg sync.WaitGroup
				for range readers {
					wg.Go(func() {
						k := uint64(0)
						for range readBatch {
							if v, ok := r.Load(k); !ok || v != k {
								panic("lost key")
							}
							if k++; k == keys {
								k = 0
							}
						}
					})
				}
				wg.Wait()
				loads += readers * readBatch
			}
			report(b, "rwmutex-map", readers, loads)
		})
	}
}

// TestNoAllocations checks that the operations on a map of fixed-size keys
// and values allocate nothing.
func TestNoAllocations(t *testing.T) {
	m, _ := newMap[uint64, [2]uint64](t, 100)
	s, _ := newMap[string, uint64](t, 100)
	require.NoError(t, m.Store(1, [2]uint64{1, 2}))
	require.NoError(t, s.Store("key", 1))
	for name, op := range map[string]func(){
		"Load":          func() { m.Load(1) },
		"Load absent":   func() { m.Load(2) },
		"Store":         func() { m.Store(1, [2]uint64{3, 4}) },
		"LoadOrStore":   func() { m.LoadOrStore(1, [2]uint64{}) },
		"CAS":           func() { m.CompareAndSwap(1, [2]uint64{3, 4}, [2]uint64{3, 4}) },
		"insert+delete": func() { m.Store(5, [2]uint64{}); m.Delete(5) },
		"Update":        func() { m.Update(1, func(v [2]uint64, _ bool) [2]uint64 { return v }) },
		"string Load":   func() { s.Load("key") },
		"string Store":  func() { s.Store("key", 2) },
	} {
		require.Zero(t, testing.AllocsPerRun(100, op), name)
	}
}

// BenchmarkStringKeys loads and stores keys like "user:1234" in a map of
// 1024 of them with the default MaxKeyLen (64 bytes), against a Go map of
// strings under a sync.RWMutex.
func BenchmarkStringKeys(b *testing.B) {
	const keys = 1 << 10
	m, err := shmap.Create[string, uint64]("bench", keys, shmap.Dir(b.TempDir()))
	require.NoError(b, err)
	defer m.Close()
	var mu sync.RWMutex
	r := make(map[string]uint64, keys)
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user:%d", i*7919)
		require.NoError(b, m.Store(names[i], uint64(i)))
		r[names[i]] = uint64(i)
	}
	b.Run("Load/shmap", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 617) & (keys - 1)
			if v, ok, err := m.Load(names[i]); err != nil || !ok || v != uint64(i) {
				b.Fatal(i, v, ok, err)
			}
		}
	})
	b.Run("Load/rwmutex-map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 617) & (keys - 1)
			mu.RLock()
			v, ok := r[names[i]]
			mu.RUnlock()
			if !ok || v != uint64(i) {
				b.Fatal(i, v, ok)
			}
		}
	})
	b.Run("Store/shmap", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 617) & (keys - 1)
			if err := m.Store(names[i], uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Store/rwmutex-map", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 617) & (keys - 1)
			mu.Lock()
			r[names[i]] = uint64(i)
			mu.Unlock()
		}
	})
}

// BenchmarkMissLatency measures what a lookup in a big map pays for a
// cache miss on this machine, the arithmetic behind the figures of the
// 2^20-key benchmarks: a chain of dependent loads over a 32 MiB shared
// segment (the size of a full map of 2^20 8-byte keys and values), each
// step a load at a random 128-byte block, which misses the caches and
// mostly the TLB, then (second=...) a load that depends on it: none, the
// other line of the same block (an entry in the home block), a line of the
// same 4 KiB page (an entry the allocator put in the home page), or a line
// anywhere (an entry elsewhere). ns/op is per step.
func BenchmarkMissLatency(b *testing.B) {
	const size = 32 << 20
	seg, err := shm.CreateAnon("latency", shm.Meta{DType: shm.Uint64, Shape: []int{size / 8}})
	require.NoError(b, err)
	defer seg.Close()
	mem, err := shm.View[uint64](seg)
	require.NoError(b, err)
	const blocks, perPage = size / 128, 4096 / 128
	for _, second := range []string{"none", "block", "page", "far"} {
		b.Run("second="+second, func(b *testing.B) {
			// Node i sits in the first line of block perm[i] and points to
			// its second load (the second line of some block), which points
			// to node i+1; each second line is used once.
			rng := rand.New(rand.NewPCG(1, 2))
			perm, far := rng.Perm(blocks), rng.Perm(blocks)
			for i, blk := range perm {
				at, nxt := blk*16, perm[(i+1)%blocks]*16 // in words
				switch second {
				case "none":
					mem[at] = uint64(nxt)
					continue
				case "block":
					mem[at] = uint64(at + 8)
				case "page":
					page := blk / perPage * perPage
					mem[at] = uint64((page+(blk%perPage+7)%perPage)*16 + 8)
				case "far":
					mem[at] = uint64(far[i]*16 + 8)
				}
				mem[mem[at]] = uint64(nxt)
			}
			p := uint64(perm[0] * 16)
			hops := 1
			if second != "none" {
				hops = 2
			}
			for b.Loop() {
				for range hops {
					p = mem[p]
				}
			}
			if p >= uint64(len(mem)) {
				b.Fatal("chain left the segment")
			}
		})
	}
}

// BenchmarkLoadChain loads keys of a full 2^20-key map in a chain, each
// key the value of the one before (a random cycle through all keys), so
// that no Load can start before the previous one ends: the latency of one
// Load, which BenchmarkLoad's independent loads, overlapped by the CPU, do
// not show. The Go map under a sync.RWMutex runs the same chain.
func BenchmarkLoadChain(b *testing.B) {
	const keys = 1 << 20
	m, err := shmap.Create[uint64, uint64]("bench", keys, shmap.Dir(b.TempDir()))
	require.NoError(b, err)
	defer m.Close()
	r := &rwMap{m: make(map[uint64]uint64, keys)}
	perm := rand.New(rand.NewPCG(3, 4)).Perm(keys)
	for i, k := range perm {
		next := uint64(perm[(i+1)%keys])
		require.NoError(b, m.Store(uint64(k), next))
		r.m[uint64(k)] = next
	}
	b.Run("shmap", func(b *testing.B) {
		k := uint64(perm[0])
		for b.Loop() {
			v, ok, err := m.Load(k)
			if err != nil || !ok {
				b.Fatal(k, ok, err)
			}
			k = v
		}
	})
	b.Run("rwmutex-map", func(b *testing.B) {
		k := uint64(perm[0])
		for b.Loop() {
			v, ok := r.Load(k)
			if !ok {
				b.Fatal(k)
			}
			k = v
		}
	})
}
