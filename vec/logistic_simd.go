//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

// LogisticSIMD is Logistic for float64, written in Go with simd/archsimd
// instead of assembly: the example of docs/KERNELS.md of a fused SIMD kernel
// in Go. It exists only in builds with GOEXPERIMENT=simd on amd64 (the
// package is experimental), and gives bitwise Logistic's results: each
// step is the same two rounded products of a rounded difference, and the
// compiler fuses no multiply-add here (there is no product plus a sum).
// Without AVX-512 it calls Logistic.
//
//	for i := range dst {
//		v := x[i]
//		for range steps {
//			v = r * v * (1 - v)
//		}
//		dst[i] = v
//	}
func LogisticSIMD(dst, x []float64, r float64, steps int) {
	check1("LogisticSIMD", dst, x)
	if !archsimd.X86.AVX512() {
		Logistic(dst, x, r, steps)
		return
	}
	rv, one := archsimd.BroadcastFloat64x8(r), archsimd.BroadcastFloat64x8(1)
	// Eight vectors at a time: each step is a chain of three dependent
	// operations, and eight chains keep both vector units busy.
	i := 0
	for ; i+64 <= len(dst); i += 64 {
		v0 := archsimd.LoadFloat64x8Slice(x[i:])
		v1 := archsimd.LoadFloat64x8Slice(x[i+8:])
		v2 := archsimd.LoadFloat64x8Slice(x[i+16:])
		v3 := archsimd.LoadFloat64x8Slice(x[i+24:])
		v4 := archsimd.LoadFloat64x8Slice(x[i+32:])
		v5 := archsimd.LoadFloat64x8Slice(x[i+40:])
		v6 := archsimd.LoadFloat64x8Slice(x[i+48:])
		v7 := archsimd.LoadFloat64x8Slice(x[i+56:])
		for range steps {
			v0 = rv.Mul(v0).Mul(one.Sub(v0))
			v1 = rv.Mul(v1).Mul(one.Sub(v1))
			v2 = rv.Mul(v2).Mul(one.Sub(v2))
			v3 = rv.Mul(v3).Mul(one.Sub(v3))
			v4 = rv.Mul(v4).Mul(one.Sub(v4))
			v5 = rv.Mul(v5).Mul(one.Sub(v5))
			v6 = rv.Mul(v6).Mul(one.Sub(v6))
			v7 = rv.Mul(v7).Mul(one.Sub(v7))
		}
		v0.StoreSlice(dst[i:])
		v1.StoreSlice(dst[i+8:])
		v2.StoreSlice(dst[i+16:])
		v3.StoreSlice(dst[i+24:])
		v4.StoreSlice(dst[i+32:])
		v5.StoreSlice(dst[i+40:])
		v6.StoreSlice(dst[i+48:])
		v7.StoreSlice(dst[i+56:])
	}
	// The rest a vector at a time, the last one through a buffer
	// (LoadFloat64x8SlicePart would do, but fails checkptr under -race in
	// go1.26: it converts the short slice to a *[8]float64).
	for ; i < len(dst); i += 8 {
		var buf [8]float64
		m := copy(buf[:], x[i:])
		v := archsimd.LoadFloat64x8(&buf)
		for range steps {
			v = rv.Mul(v).Mul(one.Sub(v))
		}
		v.Store(&buf)
		copy(dst[i:i+m], buf[:m])
	}
}
