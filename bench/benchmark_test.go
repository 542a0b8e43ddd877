package bench

import (
	"context"
	"fmt"
	"math/bits"
	"testing"

	"github.com/shmpar/shmpar/engine"
)

// benchTeams holds the teams of BenchmarkKernels, started on first use and
// closed when it ends.
type benchTeams map[point]*engine.Team

func (ts benchTeams) get(b *testing.B, pt point) *engine.Team {
	t, err := team(ts, pt, &Config{Primary: true})
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// sizeName writes n as 2^k when it is a power of two of at least 2^10.
func sizeName(n int) string {
	if n >= 1<<10 && n&(n-1) == 0 {
		return fmt.Sprintf("2^%d", bits.TrailingZeros(uint(n)))
	}
	return fmt.Sprint(n)
}

// benchSizes are the sizes a kernel is benchmarked at: one that fits in
// cache, its default, and for the bandwidth kernels a large one.
func benchSizes(k Kernel) []int {
	switch k.Name {
	case "empty":
		return []int{k.DefaultN}
	case "stencil", "mandelbrot", "nbody":
		return []int{k.DefaultN / 4, k.DefaultN}
	case "logistic":
		return []int{k.DefaultN / 16, k.DefaultN}
	}
	return []int{1 << 14, k.DefaultN, 1 << 26}
}

// BenchmarkKernels runs every kernel, in each of its implementations, at
// its sizes on process and goroutine teams of 1, 2, … usable CPUs, and
// serially first:
//
//	BenchmarkKernels/triad/vec/n=2^26/workers=2/backend=process
//
// Bandwidth kernels report MB/s (b.SetBytes); team rows report x-serial,
// the serial time per call ÷ theirs. Each sub-benchmark verifies its result
// at the end (outputs poisoned, one more run, compared with the reference).
// Run it with e.g. -bench 'Kernels/triad/.*/n=2\^26' -benchtime 2s.
func BenchmarkKernels(b *testing.B) {
	teams := benchTeams{}
	b.Cleanup(func() {
		for _, t := range teams {
			t.Close()
		}
	})
	ctx := context.Background()
	for _, k := range suite {
		for _, impl := range k.Impls {
			benchmarkKernel(b, ctx, teams, k, impl)
		}
	}
}

// benchmarkKernel is BenchmarkKernels for one implementation of k.
func benchmarkKernel(b *testing.B, ctx context.Context, teams benchTeams, k Kernel, impl string) {
	sp, err := ParseSpec(k.Name+"/"+impl, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range benchSizes(k) {
		prefix := fmt.Sprintf("%s/n=%s", sp.Label, sizeName(n))
		var inst instance
		setup := func(b *testing.B) instance {
			if inst == nil {
				var err error
				if inst, err = k.setup(n, false); err != nil {
					b.Fatal(err)
				}
			}
			return inst
		}
		var serialNs float64
		measure := func(b *testing.B, x exec) float64 {
			in := setup(b)
			if bytes, ok := k.BytesPerRep(n); ok {
				b.SetBytes(int64(bytes))
			}
			op := func() error { return in.run(ctx, x) }
			if k.Class == Overhead { // one op is one For call, not a repetition of many
				op = func() error {
					if x.team == nil {
						return emptyBody(emptyArgs{}, 0, n)
					}
					return emptyKernel.For(ctx, x.team, n, emptyArgs{})
				}
			}
			if err := op(); err != nil { // warm-up
				b.Fatal(err)
			}
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			in.poison()
			if err := in.run(ctx, x); err != nil {
				b.Fatal(err)
			}
			if err := in.verify(); err != nil {
				b.Fatal(err)
			}
			return ns
		}
		b.Run(prefix+"/workers=1/backend=serial", func(b *testing.B) {
			serialNs = measure(b, exec{impl: impl})
		})
		for _, w := range DefaultWorkers() {
			for _, backend := range []string{BackendProcess, BackendGoroutine} {
				b.Run(fmt.Sprintf("%s/workers=%d/backend=%s", prefix, w, backend), func(b *testing.B) {
					t := teams.get(b, point{backend, w})
					x := exec{team: t, sched: option(k.Schedule, 0), det: k.Schedule == "deterministic", impl: impl}
					ns := measure(b, x)
					if serialNs > 0 {
						b.ReportMetric(serialNs/ns, "x-serial")
					}
				})
			}
		}
		if inst != nil {
			inst.close()
		}
	}
}
