//go:build goexperiment.simd && amd64

package vec_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shmpar/shmpar/vec"
)

// TestLogisticSIMD checks the archsimd kernel against the scalar loop, bit
// for bit, for every tail length, in place and not, with guards.
func TestLogisticSIMD(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range sizes() {
		for _, steps := range []int{0, 1, 7, 200} {
			x := unitValues[float64](rng, n)
			if n > 3 {
				x[1], x[2], x[3] = math.NaN(), math.Inf(1), math.Copysign(0, -1)
			}
			r := 4 * rng.Float64()
			want := make([]float64, n)
			for i, v := range x {
				for range steps {
					v = r * v * (1 - v)
				}
				want[i] = v
			}
			buf, dst := guarded[float64](n, n%8)
			vec.LogisticSIMD(dst, x, r, steps)
			checkGuards(t, "LogisticSIMD", buf, n%8, n)
			vec.LogisticSIMD(x, x, r, steps) // in place
			for i := range want {
				if !same(dst[i], want[i]) || !same(x[i], want[i]) {
					t.Fatalf("n=%d steps=%d: dst[%d] = %v, in place %v, want %v", n, steps, i, dst[i], x[i], want[i])
				}
			}
		}
	}
}

// BenchmarkLogisticSIMD beside BenchmarkLogistic: the archsimd kernel.
func BenchmarkLogisticSIMD(b *testing.B) {
	const steps = 200
	for _, n := range []int{1 << 10, 1 << 17} {
		b.Run(fmt.Sprintf("%s/archsimd", sizeName(n)), func(b *testing.B) {
			d, x := array(0, n), array(1, n)
			for i := range x {
				x[i] = 0.05 + 0.9*float64(i%1000)/1000
			}
			for b.Loop() {
				vec.LogisticSIMD(d, x, 3.9, steps)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*steps), "ns/elem-step")
		})
	}
}
