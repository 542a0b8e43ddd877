package vec_test

import (
	"math"

	"github.com/shmpar/shmpar/vec"
)

// Logistic's step count in the table tests: enough to mix rounding in.
const logisticSteps = 7

// ewOp is an operation that writes a destination: its vec call and its
// reference loop (the loop of its doc comment, written out).
type ewOp[T vec.Float] struct {
	name  string
	nin   int  // input slices
	alias bool // dst may be one of the inputs
	run   func(dst []T, in [][]T, s T)
	ref   func(dst []T, in [][]T, s T)
}

func ewOps[T vec.Float]() []ewOp[T] {
	loop := func(f func(in [][]T, s T, i int) T) func(dst []T, in [][]T, s T) {
		return func(dst []T, in [][]T, s T) {
			for i := range dst {
				dst[i] = f(in, s, i)
			}
		}
	}
	return []ewOp[T]{
		{"Fill", 0, false, func(d []T, _ [][]T, s T) { vec.Fill(d, s) },
			loop(func(_ [][]T, s T, _ int) T { return s })},
		{"Copy", 1, true, func(d []T, in [][]T, _ T) { vec.Copy(d, in[0]) },
			loop(func(in [][]T, _ T, i int) T { return in[0][i] })},
		{"Scale", 1, true, func(d []T, in [][]T, s T) { vec.Scale(d, s, in[0]) },
			loop(func(in [][]T, s T, i int) T { return s * in[0][i] })},
		{"Add", 2, true, func(d []T, in [][]T, _ T) { vec.Add(d, in[0], in[1]) },
			loop(func(in [][]T, _ T, i int) T { return in[0][i] + in[1][i] })},
		{"Sub", 2, true, func(d []T, in [][]T, _ T) { vec.Sub(d, in[0], in[1]) },
			loop(func(in [][]T, _ T, i int) T { return in[0][i] - in[1][i] })},
		{"Mul", 2, true, func(d []T, in [][]T, _ T) { vec.Mul(d, in[0], in[1]) },
			loop(func(in [][]T, _ T, i int) T { return in[0][i] * in[1][i] })},
		{"Div", 2, true, func(d []T, in [][]T, _ T) { vec.Div(d, in[0], in[1]) },
			loop(func(in [][]T, _ T, i int) T { return in[0][i] / in[1][i] })},
		{"AddScaled", 2, true, func(d []T, in [][]T, s T) { vec.AddScaled(d, in[0], s, in[1]) },
			loop(func(in [][]T, s T, i int) T { return in[0][i] + T(s*in[1][i]) })},
		{"Logistic", 1, true, func(d []T, in [][]T, s T) { vec.Logistic(d, in[0], s, logisticSteps) },
			loop(func(in [][]T, r T, i int) T {
				v := in[0][i]
				for range logisticSteps {
					v = T(r*v) * (1 - v)
				}
				return v
			})},
		{"JacobiRow", 3, false, func(d []T, in [][]T, _ T) { vec.JacobiRow(d, in[0], in[1], in[2]) },
			func(dst []T, in [][]T, _ T) {
				up, mid, down := in[0], in[1], in[2]
				n := len(dst)
				for j := 1; j < n-1; j++ {
					dst[j] = 0.25 * (up[j] + down[j] + mid[j-1] + mid[j+1])
				}
				if n > 0 {
					dst[0], dst[n-1] = mid[0], mid[n-1]
				}
			}},
		{"DiffuseRow", 3, false, func(d []T, in [][]T, s T) { vec.DiffuseRow(d, in[0], in[1], in[2], s) },
			func(dst []T, in [][]T, alpha T) {
				up, mid, down := in[0], in[1], in[2]
				n := len(dst)
				for j := 1; j < n-1; j++ {
					lap := up[j] + down[j] + mid[j-1] + mid[j+1] - T(4*mid[j])
					dst[j] = mid[j] + T(alpha*lap)
				}
				if n > 0 {
					dst[0], dst[n-1] = mid[0], mid[n-1]
				}
			}},
	}
}

// redOp is a reduction: its vec call and its reference loop.
type redOp[T vec.Float] struct {
	name string
	nin  int
	run  func(in [][]T) T
	ref  func(in [][]T) T
}

func redOps[T vec.Float]() []redOp[T] {
	l := vec.Lanes[T]()
	tree := func(acc []T) T {
		for w := l / 2; w >= 1; w /= 2 {
			for j := range w {
				acc[j] += acc[j+w]
			}
		}
		return acc[0]
	}
	return []redOp[T]{
		{"Sum", 1, func(in [][]T) T { return vec.Sum(in[0]) }, func(in [][]T) T {
			acc := make([]T, l)
			for i, v := range in[0] {
				acc[i%l] += v
			}
			return tree(acc)
		}},
		{"Dot", 2, func(in [][]T) T { return vec.Dot(in[0], in[1]) }, func(in [][]T) T {
			acc := make([]T, l)
			for i := range in[0] {
				acc[i%l] += T(in[0][i] * in[1][i])
			}
			return tree(acc)
		}},
		{"Min", 1, func(in [][]T) T { return vec.Min(in[0]) }, func(in [][]T) T {
			m := T(math.Inf(1))
			for _, v := range in[0] {
				m = T(math.Min(float64(m), float64(v)))
			}
			return m
		}},
		{"Max", 1, func(in [][]T) T { return vec.Max(in[0]) }, func(in [][]T) T {
			m := T(math.Inf(-1))
			for _, v := range in[0] {
				m = T(math.Max(float64(m), float64(v)))
			}
			return m
		}},
	}
}
