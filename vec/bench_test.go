package vec_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/shmpar/shmpar/vec"
)

// The benchmarks run single-threaded (the engine runs these per chunk).
// Each operation runs at sizes from in-L1 to far past the last-level cache,
// with the pure-Go loop ("go") beside the best assembly ("vec"); b.SetBytes
// counts the bytes read and written (STREAM's count, no write-allocate), so
// the MB/s column is the bandwidth.
//
//	flock /work/.bench.lock go test -run '^$' -bench 'Ops/' -count 6 ./vec

// benchSizes are the lengths, in elements.
var benchSizes = []int{1 << 10, 1 << 14, 1 << 17, 1 << 20, 1 << 23, 1 << 26}

// arrays are shared by the benchmarks: allocated once at the largest size
// they were asked for and filled with ordinary values.
var arrays [4][]float64

func array(k, n int) []float64 {
	if len(arrays[k]) < n {
		arrays[k] = make([]float64, n)
		for i := range arrays[k] {
			arrays[k][i] = 0.5 + float64(i%1000)/1000
		}
	}
	return arrays[k][:n]
}

var arrays32 [3][]float32

func array32(k, n int) []float32 {
	if len(arrays32[k]) < n {
		arrays32[k] = make([]float32, n)
		for i := range arrays32[k] {
			arrays32[k][i] = 0.5 + float32(i%1000)/1000
		}
	}
	return arrays32[k][:n]
}

func sizeName(n int) string {
	if n&(n-1) == 0 {
		return fmt.Sprintf("n=2^%d", int(math.Log2(float64(n))))
	}
	return fmt.Sprintf("n=%d", n)
}

// sink keeps reductions from being optimized away.
var sink float64

type benchOp struct {
	name  string
	bytes int // bytes moved per element (float64)
	run   func(n int) func()
}

func benchOps() []benchOp {
	return []benchOp{
		{"fill", 8, func(n int) func() { d := array(0, n); return func() { vec.Fill(d, 1.5) } }},
		{"copy", 16, func(n int) func() { d, a := array(0, n), array(1, n); return func() { vec.Copy(d, a) } }},
		{"scale", 16, func(n int) func() { d, a := array(0, n), array(1, n); return func() { vec.Scale(d, 3, a) } }},
		{"add", 24, func(n int) func() {
			d, a, b := array(0, n), array(1, n), array(2, n)
			return func() { vec.Add(d, a, b) }
		}},
		{"mul", 24, func(n int) func() {
			d, a, b := array(0, n), array(1, n), array(2, n)
			return func() { vec.Mul(d, a, b) }
		}},
		{"div", 24, func(n int) func() {
			d, a, b := array(0, n), array(1, n), array(2, n)
			return func() { vec.Div(d, a, b) }
		}},
		{"triad", 24, func(n int) func() {
			d, a, b := array(0, n), array(1, n), array(2, n)
			return func() { vec.AddScaled(d, a, 3, b) }
		}},
		{"sum", 8, func(n int) func() { a := array(1, n); return func() { sink += vec.Sum(a) } }},
		{"dot", 16, func(n int) func() { a, b := array(1, n), array(2, n); return func() { sink += vec.Dot(a, b) } }},
		{"min", 8, func(n int) func() { a := array(1, n); return func() { sink += vec.Min(a) } }},
		{"max", 8, func(n int) func() { a := array(1, n); return func() { sink += vec.Max(a) } }},
		{"sum32", 4, func(n int) func() { a := array32(1, n); return func() { sink += float64(vec.Sum(a)) } }},
		{"dot32", 8, func(n int) func() {
			a, b := array32(1, n), array32(2, n)
			return func() { sink += float64(vec.Dot(a, b)) }
		}},
		{"triad32", 12, func(n int) func() {
			d, a, b := array32(0, n), array32(1, n), array32(2, n)
			return func() { vec.AddScaled(d, a, 3, b) }
		}},
		// A row of n elements of a Jacobi sweep: three rows read (mostly
		// from cache in a sweep), one written: 16 bytes per element moved
		// to and from memory in a sweep, as bench's stencil counts.
		{"jacobirow", 16, func(n int) func() {
			d, a, b, c := array(0, n), array(1, n), array(2, n), array(3, n)
			return func() { vec.JacobiRow(d, a, b, c) }
		}},
		{"diffuserow", 16, func(n int) func() {
			d, a, b, c := array(0, n), array(1, n), array(2, n), array(3, n)
			return func() { vec.DiffuseRow(d, a, b, c, 0.2) }
		}},
	}
}

func BenchmarkOps(b *testing.B) {
	for _, op := range benchOps() {
		for _, n := range benchSizes {
			for _, impl := range []string{"go", "vec"} {
				b.Run(fmt.Sprintf("%s/%s/%s", op.name, sizeName(n), impl), func(b *testing.B) {
					if impl == "go" {
						defer vec.UseImpl("go")()
					}
					f := op.run(n)
					b.SetBytes(int64(op.bytes * n))
					for b.Loop() {
						f()
					}
				})
			}
		}
	}
}

// BenchmarkLogistic is compute-bound: 200 steps of the map per element.
// Its figure is ns per element-step; "go" is the scalar loop.
func BenchmarkLogistic(b *testing.B) {
	const steps = 200
	for _, n := range []int{1 << 10, 1 << 17} {
		for _, impl := range []string{"go", "vec"} {
			b.Run(fmt.Sprintf("%s/%s", sizeName(n), impl), func(b *testing.B) {
				if impl == "go" {
					defer vec.UseImpl("go")()
				}
				d, x := array(0, n), array(1, n)
				for i := range x {
					x[i] = 0.05 + 0.9*float64(i%1000)/1000
				}
				for b.Loop() {
					vec.Logistic(d, x, 3.9, steps)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*steps), "ns/elem-step")
			})
		}
	}
}

// The destination sizes of BenchmarkStream: 2^e float64, 256 KiB to 128 MiB.
var streamFrom, streamTo = 15, 24

// BenchmarkStream measures the streaming-store threshold: each operation
// that may stream at destination sizes around the caches, with plain and
// with non-temporal stores. The crossover is DefaultStreamThreshold.
//
//	flock /work/.bench.lock go test -run '^$' -bench 'Stream/' -count 6 ./vec
func BenchmarkStream(b *testing.B) {
	ops := benchOps()
	for _, name := range []string{"fill", "copy", "triad"} {
		var op benchOp
		for _, o := range ops {
			if o.name == name {
				op = o
			}
		}
		for e := streamFrom; e <= streamTo; e++ {
			n := 1 << e
			for _, path := range []string{"plain", "nt"} {
				b.Run(fmt.Sprintf("%s/dst=%dKiB/%s", name, n*8>>10, path), func(b *testing.B) {
					t := math.MaxInt
					if path == "nt" {
						t = 0
					}
					defer vec.SetStreamThreshold(vec.SetStreamThreshold(t))
					f := op.run(n)
					b.SetBytes(int64(op.bytes * n))
					for b.Loop() {
						f()
					}
				})
			}
		}
	}
}
