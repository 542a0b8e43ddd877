package exact

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkAddSlice measures the per-element cost of an exact sum beside a
// plain float64 loop over the same data; ns/element is reported for both.
func BenchmarkAddSlice(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 16, 1 << 20} {
		r := rand.New(rand.NewPCG(uint64(n), 1))
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = randFloat(r, false)
		}
		b.Run(fmt.Sprintf("exact/n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var a Acc
			for b.Loop() {
				a.Reset()
				a.AddSlice(xs)
				sink = a.Float64()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/element")
		})
		b.Run(fmt.Sprintf("add/n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			var a Acc
			for b.Loop() {
				a.Reset()
				for _, x := range xs {
					a.Add(x)
				}
				sink = a.Float64()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/element")
		})
		b.Run(fmt.Sprintf("float64loop/n=%d", n), func(b *testing.B) {
			b.SetBytes(int64(8 * n))
			for b.Loop() {
				s := 0.0
				for _, x := range xs {
					s += x
				}
				sink = s
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/element")
		})
	}
}

// BenchmarkWords measures one accumulator's trip through its words, the
// per-rank cost of a reduction besides the network.
func BenchmarkWords(b *testing.B) {
	var a Acc
	a.AddSlice([]float64{1, 2, 3e300, -4e-300})
	w := make([]int64, 0, NumWords)
	for b.Loop() {
		w = a.AppendWords(w[:0])
		var c Acc
		if err := c.AddWords(w); err != nil {
			b.Fatal(err)
		}
		sink = c.Float64()
	}
}

var sink float64
