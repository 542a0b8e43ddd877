package array_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/shmpar/shmpar/array"
)

func sum(x []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return s0 + s1 + s2 + s3
}

var sink float64

// BenchmarkSum compares a sequential sum over a 256 MiB shared Array with the
// same sum over a heap slice: once the pages are touched, the mapping should
// cost nothing.
func BenchmarkSum(b *testing.B) {
	const n = 1 << 25 // 2^25 float64 = 256 MiB
	a, err := array.Create[float64](fmt.Sprintf("bench-sum-%d", os.Getpid()), n)
	if err != nil {
		b.Skip("cannot create a 256 MiB segment in the default directory:", err)
	}
	defer a.Close()
	defer a.Unlink()
	heap := make([]float64, n)
	for i := range heap {
		heap[i] = float64(i & 1023)
		a.Data()[i] = heap[i]
	}
	for _, c := range []struct {
		name string
		x    []float64
	}{{"heap", heap}, {"shared", a.Data()}} {
		b.Run(c.name+"/n=2^25", func(b *testing.B) {
			b.SetBytes(8 * n)
			for b.Loop() {
				sink = sum(c.x)
			}
		})
	}
}
