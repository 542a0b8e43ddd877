package vec

import (
	"math"
	"unsafe"
)

// kernels is one implementation of the operations for T. The exported
// functions check their arguments and call through k64 or k32; the
// routines get a destination and inputs of n ≥ 1 elements each (n ≥ 3 for
// the rows), and nt says whether to use non-temporal stores.
type kernels[T Float] struct {
	fill               func(d *T, n int, v T, nt bool)
	copy               func(d, a *T, n int, nt bool)
	scale              func(d, a *T, n int, s T, nt bool)
	add, sub, mul, div func(d, a, b *T, n int, nt bool)
	addScaled          func(d, a, b *T, n int, s T, nt bool)
	sum                func(a *T, n int) T
	dot                func(a, b *T, n int) T
	min, max           func(a *T, n int) T
	jacobiRow          func(d, up, mid, down *T, n int)
	diffuseRow         func(d, up, mid, down *T, n int, alpha T)
	logistic           func(d, x *T, n int, r T, steps int)
}

// The kernels in use, set by the platform's init (impl_amd64.go) and by
// tests.
var (
	k64 = goKernels[float64]()
	k32 = goKernels[float32]()
)

// goKernels returns the pure-Go implementation: the reference the assembly
// is tested against, and what runs where there is no assembly (other
// architectures, CPUs without AVX2, the purego build tag).
//
// Every T(…) conversion around a product is there to round it: without it
// the Go compiler may fuse a product and a sum into one FMA instruction on
// arm64, ppc64le, s390x and riscv64, and the bits would differ by machine.
func goKernels[T Float]() kernels[T] {
	return kernels[T]{
		fill: func(d *T, n int, v T, _ bool) {
			dst := unsafe.Slice(d, n)
			for i := range dst {
				dst[i] = v
			}
		},
		copy: func(d, a *T, n int, _ bool) {
			copy(unsafe.Slice(d, n), unsafe.Slice(a, n))
		},
		scale: func(d, a *T, n int, s T, _ bool) {
			dst, x := unsafe.Slice(d, n), unsafe.Slice(a, n)
			for i := range dst {
				dst[i] = s * x[i]
			}
		},
		add: func(d, a, b *T, n int, _ bool) {
			dst, x, y := unsafe.Slice(d, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
			for i := range dst {
				dst[i] = x[i] + y[i]
			}
		},
		sub: func(d, a, b *T, n int, _ bool) {
			dst, x, y := unsafe.Slice(d, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
			for i := range dst {
				dst[i] = x[i] - y[i]
			}
		},
		mul: func(d, a, b *T, n int, _ bool) {
			dst, x, y := unsafe.Slice(d, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
			for i := range dst {
				dst[i] = x[i] * y[i]
			}
		},
		div: func(d, a, b *T, n int, _ bool) {
			dst, x, y := unsafe.Slice(d, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
			for i := range dst {
				dst[i] = x[i] / y[i]
			}
		},
		addScaled: func(d, a, b *T, n int, s T, _ bool) {
			dst, x, y := unsafe.Slice(d, n), unsafe.Slice(a, n), unsafe.Slice(b, n)
			for i := range dst {
				dst[i] = x[i] + T(s*y[i])
			}
		},
		sum: func(a *T, n int) T {
			return sumGo(unsafe.Slice(a, n))
		},
		dot: func(a, b *T, n int) T {
			return dotGo(unsafe.Slice(a, n), unsafe.Slice(b, n))
		},
		min: func(a *T, n int) T { return minGo(unsafe.Slice(a, n), 1) },
		max: func(a *T, n int) T { return minGo(unsafe.Slice(a, n), -1) },
		jacobiRow: func(d, up, mid, down *T, n int) {
			dst, u, m, w := unsafe.Slice(d, n), unsafe.Slice(up, n), unsafe.Slice(mid, n), unsafe.Slice(down, n)
			for j := 1; j < n-1; j++ {
				dst[j] = 0.25 * (u[j] + w[j] + m[j-1] + m[j+1])
			}
		},
		diffuseRow: func(d, up, mid, down *T, n int, alpha T) {
			dst, u, m, w := unsafe.Slice(d, n), unsafe.Slice(up, n), unsafe.Slice(mid, n), unsafe.Slice(down, n)
			for j := 1; j < n-1; j++ {
				lap := u[j] + w[j] + m[j-1] + m[j+1] - T(4*m[j])
				dst[j] = m[j] + T(alpha*lap)
			}
		},
		logistic: func(d, x *T, n int, r T, steps int) {
			dst, src := unsafe.Slice(d, n), unsafe.Slice(x, n)
			for i := range dst {
				v := src[i]
				for range steps {
					v = T(r*v) * (1 - v)
				}
				dst[i] = v
			}
		},
	}
}

// minGo returns Min(a) for sign 1 and Max(a) for sign -1. The built-in
// min and max agree with math.Min and math.Max on ±0 and on NaN except
// that math's let ∓Inf win over NaN, so an infinity in the direction
// sought is looked for on the side.
func minGo[T Float](a []T, sign float64) T {
	end := T(math.Inf(-int(sign)))
	m, seen := T(math.Inf(int(sign))), false
	for _, v := range a {
		if sign > 0 {
			m = min(m, v)
		} else {
			m = max(m, v)
		}
		if v == end {
			seen = true
		}
	}
	if seen {
		return end
	}
	return m
}

// sumGo is Sum's order in Go: acc[i%L] += a[i], then the halving tree.
func sumGo[T Float](a []T) T {
	var acc [32]T
	l := Lanes[T]()
	i := 0
	for ; i+l <= len(a); i += l {
		x := a[i : i+l]
		for j := range x {
			acc[j] += x[j]
		}
	}
	for j := range a[i:] {
		acc[j] += a[i+j]
	}
	return fold(acc[:l])
}

// dotGo is Dot's order in Go: acc[i%L] += T(a[i]*b[i]), then the tree.
func dotGo[T Float](a, b []T) T {
	var acc [32]T
	l := Lanes[T]()
	b = b[:len(a)]
	i := 0
	for ; i+l <= len(a); i += l {
		x, y := a[i:i+l], b[i:i+l]
		for j := range x {
			acc[j] += T(x[j] * y[j])
		}
	}
	for j := range a[i:] {
		acc[j] += T(a[i+j] * b[i+j])
	}
	return fold(acc[:l])
}

// fold adds the upper half of acc into its lower half until one sum is
// left: the combining tree of Sum and Dot.
func fold[T Float](acc []T) T {
	for w := len(acc) / 2; w >= 1; w /= 2 {
		for j := range w {
			acc[j] += acc[j+w]
		}
	}
	return acc[0]
}
