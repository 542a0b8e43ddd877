package pool_test

import (
	"context"
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/pool"
)

// Python's multiprocessing.Pool(2) on the project's 2-core machine, for
// comparison (see docs/BENCHMARKS.md): map of 10^6 tiny tasks ≈ 5–6 M
// tasks/s with its default chunksize and ≈ 50 k tasks/s with chunksize 1; a
// map of two no-op tasks ≈ 350–450 µs per call.

func benchPool(b *testing.B, opts []engine.TeamOption) *pool.Pool {
	b.Helper()
	team, err := engine.Start(opts...)
	if err != nil {
		b.Fatal(err)
	}
	p, err := pool.On(team)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(); team.Close() })
	return p
}

var poolBenchBackends = []struct {
	name string
	opts []engine.TeamOption
}{
	{"process", []engine.TeamOption{engine.Workers(2)}},
	{"goroutine", []engine.TeamOption{engine.Workers(2), engine.Goroutine}},
}

func sq(x int) int { return x * x }

// BenchmarkPoolMap is Map of tiny tasks (x*x on ints) with the automatic
// chunk size and with chunks of one task, against goroutines and a serial
// loop.
func BenchmarkPoolMap(b *testing.B) {
	ctx := context.Background()
	for _, size := range []struct {
		name  string
		n     int
		chunk int
	}{
		{"n=1e6/chunk=auto", 1_000_000, 0},
		{"n=1e6/chunk=1", 1_000_000, 1},
	} {
		in := make([]int, size.n)
		for i := range in {
			in[i] = i
		}
		for _, be := range poolBenchBackends {
			b.Run(size.name+"/"+be.name, func(b *testing.B) {
				p := benchPool(b, be.opts)
				var opts []pool.CallOption
				if size.chunk > 0 {
					opts = append(opts, pool.ChunkSize(size.chunk))
				}
				for b.Loop() {
					if _, err := sqF.Map(ctx, p, in, opts...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(size.n)/b.Elapsed().Seconds(), "tasks/s")
			})
		}
		b.Run(size.name+"/serial", func(b *testing.B) {
			out := make([]int, size.n)
			for b.Loop() {
				for i, x := range in {
					out[i] = sq(x)
				}
			}
			b.ReportMetric(float64(b.N)*float64(size.n)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkPoolLatency is a Map of two no-op tasks: the round trip of a
// small call.
func BenchmarkPoolLatency(b *testing.B) {
	ctx := context.Background()
	in := []struct{}{{}, {}}
	for _, be := range poolBenchBackends {
		b.Run("map2/"+be.name, func(b *testing.B) {
			p := benchPool(b, be.opts)
			for b.Loop() {
				if _, err := noopF.Map(ctx, p, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
		})
	}
	// The session path: a Map of two gob-encoded tasks, and Submit.
	gin := []wordArgs{{"a", 1}, {"b", 2}}
	for _, be := range poolBenchBackends {
		b.Run("map2-gob/"+be.name, func(b *testing.B) {
			p := benchPool(b, be.opts)
			for b.Loop() {
				if _, err := repeatF.Map(ctx, p, gin); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
		})
		b.Run("submit/"+be.name, func(b *testing.B) {
			p := benchPool(b, be.opts)
			for b.Loop() {
				if _, err := noopF.Submit(ctx, p, struct{}{}).Wait(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
		})
	}
	b.Run("map2/serial", func(b *testing.B) {
		out := make([]struct{}, 2)
		for b.Loop() {
			for i := range in {
				out[i] = struct{}{}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
	})
}

// BenchmarkPoolMapGob is Map of small tasks whose input holds a string: the
// gob path, with persistent streams per worker.
func BenchmarkPoolMapGob(b *testing.B) {
	ctx := context.Background()
	in := make([]wordArgs, 100_000)
	for i := range in {
		in[i] = wordArgs{Word: "ab", Times: i % 3}
	}
	for _, chunk := range []int{0, 1} {
		for _, be := range poolBenchBackends {
			b.Run(be.name+map[int]string{0: "/auto", 1: "/chunk=1"}[chunk], func(b *testing.B) {
				p := benchPool(b, be.opts)
				var opts []pool.CallOption
				if chunk > 0 {
					opts = append(opts, pool.ChunkSize(chunk))
				}
				for b.Loop() {
					if _, err := repeatF.Map(ctx, p, in, opts...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(len(in))/b.Elapsed().Seconds(), "tasks/s")
			})
		}
	}
}

// BenchmarkPoolMapProgress is BenchmarkPoolMap's automatic-chunk row with
// and without a Progress callback (one that does nothing): what reporting
// costs when asked for.
func BenchmarkPoolMapProgress(b *testing.B) {
	ctx := context.Background()
	in := make([]int, 1_000_000)
	for i := range in {
		in[i] = i
	}
	for _, be := range poolBenchBackends {
		for _, on := range []bool{false, true} {
			name := be.name + "/progress=off"
			var opts []pool.CallOption
			if on {
				name = be.name + "/progress=on"
				opts = append(opts, pool.Progress(func(done, total int) {}))
			}
			b.Run(name, func(b *testing.B) {
				p := benchPool(b, be.opts)
				for b.Loop() {
					if _, err := sqF.Map(ctx, p, in, opts...); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(len(in))/b.Elapsed().Seconds(), "tasks/s")
			})
		}
	}
}
