package bench

import "math"

// The serial references. Each kernel of the suite runs one of these
// functions over a sub-range [lo, hi) in every participant (the STREAM
// kernels over sub-slices), so a parallel result is the serial one computed
// piecewise with the same expressions, and is checked bitwise against it.
// Destination first, as in gonum's floats.

// Copy sets dst[i] = x[i] (STREAM copy: 16 bytes moved per element).
//
//	for i := range dst {
//		dst[i] = x[i]
//	}
func Copy(dst, x []float64) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = x[i]
	}
}

// Scale sets dst[i] = s·x[i] (STREAM scale: 16 bytes per element).
//
//	for i := range dst {
//		dst[i] = s * x[i]
//	}
func Scale(dst []float64, s float64, x []float64) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] = s * x[i]
	}
}

// Add sets dst[i] = x[i] + y[i] (STREAM add: 24 bytes per element).
//
//	for i := range dst {
//		dst[i] = x[i] + y[i]
//	}
func Add(dst, x, y []float64) {
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] + y[i]
	}
}

// Triad sets dst[i] = x[i] + s·y[i] (STREAM triad: 24 bytes per element).
// The product is rounded before the sum (an explicit conversion forbids a
// fused multiply-add), so every platform gets the same bits.
//
//	for i := range dst {
//		dst[i] = x[i] + float64(s*y[i])
//	}
func Triad(dst, x []float64, s float64, y []float64) {
	x, y = x[:len(dst)], y[:len(dst)]
	for i := range dst {
		dst[i] = x[i] + float64(s*y[i])
	}
}

// SumRange returns x[lo] + … + x[hi-1], added left to right: the partial
// result of one chunk of the sum kernel (8 bytes read per element).
//
//	s := 0.0
//	for _, v := range x[lo:hi] {
//		s += v
//	}
func SumRange(x []float64, lo, hi int) float64 {
	s := 0.0
	for _, v := range x[lo:hi] {
		s += v
	}
	return s
}

// Sum returns the sum of x as the sum kernel computes it with a
// Deterministic schedule: the partial sums of the chunks [k·g, (k+1)·g),
// g = engine.Grain(len(x)), added in chunk order. It is bitwise equal to the
// parallel result at any number of workers.
//
//	s := 0.0
//	for lo := 0; lo < n; lo += g {
//		s += SumRange(x, lo, min(lo+g, n))
//	}
func Sum(x []float64) float64 {
	return chunked(len(x), func(lo, hi int) float64 { return SumRange(x, lo, hi) })
}

// DotRange returns x[lo]·y[lo] + … + x[hi-1]·y[hi-1], added left to right,
// each product rounded before the sum (16 bytes read per element).
//
//	s := 0.0
//	for i := lo; i < hi; i++ {
//		s += float64(x[i] * y[i])
//	}
func DotRange(x, y []float64, lo, hi int) float64 {
	s := 0.0
	x, y = x[lo:hi], y[lo:hi]
	for i := range x {
		s += float64(x[i] * y[i])
	}
	return s
}

// Dot returns the dot product of x and y in the chunk order of the dot
// kernel with a Deterministic schedule (see Sum).
func Dot(x, y []float64) float64 {
	return chunked(len(x), func(lo, hi int) float64 { return DotRange(x, y, lo, hi) })
}

// vecLanes is the number of partial sums of vec.Sum and vec.Dot for
// float64 (vec.Lanes[float64]()).
const vecLanes = 16

// LaneSumRange returns the sum of x[lo:hi] in the fixed order of vec.Sum:
// 16 partial sums, element lo+i into partial sum i mod 16, then the partial
// sums added pairwise by halving. It is the reference of the vec
// implementation of the sum kernel, a plain Go loop that vec's assembly
// must match bit for bit (8 bytes read per element).
//
//	var acc [16]float64
//	for i, v := range x[lo:hi] {
//		acc[i%16] += v
//	}
//	for w := 8; w >= 1; w /= 2 {
//		for j := range w {
//			acc[j] += acc[j+w]
//		}
//	}
//	return acc[0]
func LaneSumRange(x []float64, lo, hi int) float64 {
	var acc [vecLanes]float64
	for i, v := range x[lo:hi] {
		acc[i%vecLanes] += v
	}
	return foldLanes(&acc)
}

// LaneDotRange returns the dot product of x[lo:hi] and y[lo:hi] in the
// order of vec.Dot: LaneSumRange's, each product rounded before it is added
// (16 bytes read per element).
//
//	var acc [16]float64
//	for i := range hi - lo {
//		acc[i%16] += float64(x[lo+i] * y[lo+i])
//	}
//	// then combined as in LaneSumRange
func LaneDotRange(x, y []float64, lo, hi int) float64 {
	var acc [vecLanes]float64
	x, y = x[lo:hi], y[lo:hi]
	for i := range x {
		acc[i%vecLanes] += float64(x[i] * y[i])
	}
	return foldLanes(&acc)
}

// foldLanes adds the partial sums pairwise by halving.
func foldLanes(acc *[vecLanes]float64) float64 {
	for w := vecLanes / 2; w >= 1; w /= 2 {
		for j := range w {
			acc[j] += acc[j+w]
		}
	}
	return acc[0]
}

// LaneSum returns the sum of x as the vec implementation of the sum kernel
// computes it with a Deterministic schedule: LaneSumRange of each chunk
// [k·g, (k+1)·g), g = engine.Grain(len(x)), the partials added in chunk
// order (see Sum). It is bitwise equal to the parallel result at any
// number of workers, and on any machine.
func LaneSum(x []float64) float64 {
	return chunked(len(x), func(lo, hi int) float64 { return LaneSumRange(x, lo, hi) })
}

// LaneDot returns the dot product of x and y as the vec implementation of
// the dot kernel computes it with a Deterministic schedule (see LaneSum).
func LaneDot(x, y []float64) float64 {
	return chunked(len(x), func(lo, hi int) float64 { return LaneDotRange(x, y, lo, hi) })
}

// StencilRows does one Jacobi sweep of the 5-point Laplace stencil over rows
// [lo, hi) of an n×n grid stored row-major: boundary points are copied,
// interior points get the mean of their four neighbours. dst and src must
// not overlap (double buffering). About 16 bytes move per point: one read of
// src (neighbours come from cache) and one write of dst.
//
//	for i := lo; i < hi; i++ {
//		for j := 0; j < n; j++ {
//			if i == 0 || i == n-1 || j == 0 || j == n-1 {
//				dst[i*n+j] = src[i*n+j]
//			} else {
//				dst[i*n+j] = 0.25 * (src[(i-1)*n+j] + src[(i+1)*n+j] + src[i*n+j-1] + src[i*n+j+1])
//			}
//		}
//	}
func StencilRows(dst, src []float64, n, lo, hi int) {
	for i := lo; i < hi; i++ {
		row, mid := dst[i*n:(i+1)*n], src[i*n:(i+1)*n]
		if i == 0 || i == n-1 {
			copy(row, mid)
			continue
		}
		up, down := src[(i-1)*n:i*n], src[(i+1)*n:(i+2)*n]
		row[0], row[n-1] = mid[0], mid[n-1]
		for j := 1; j < n-1; j++ {
			row[j] = 0.25 * (up[j] + down[j] + mid[j-1] + mid[j+1])
		}
	}
}

// Stencil does one Jacobi sweep over the whole n×n grid: StencilRows over
// [0, n).
func Stencil(dst, src []float64, n int) { StencilRows(dst, src, n, 0, n) }

// Logistic sets dst[i] to the logistic map x ↦ r·x·(1−x) iterated steps times
// from x[i]. It is compute-bound: 16 bytes per element against 3·steps
// dependent floating-point operations.
//
//	for i := range dst {
//		v := x[i]
//		for range steps {
//			v = r * v * (1 - v)
//		}
//		dst[i] = v
//	}
func Logistic(dst, x []float64, r float64, steps int) {
	x = x[:len(dst)]
	for i := range dst {
		v := x[i]
		for range steps {
			v = r * v * (1 - v)
		}
		dst[i] = v
	}
}

// The region MandelbrotRows draws: the upper half of the set only, so that
// the rows near the real axis (inside the main cardioid, every point runs
// to maxIter) cost far more than the rows near the top. A static split of
// the rows gives one worker most of the work; dynamic chunks even it out.
const (
	mandelReMin, mandelReMax = -2.0, 0.5
	mandelImMin, mandelImMax = 0.0, 1.25
)

// MandelbrotRows sets dst[i*n+j], for rows [lo, hi) of an n×n image, to the
// number of iterations of z ↦ z²+c, from z = 0, before |z| > 2 (at most
// maxIter), where c is pixel (i, j) of the region Re c ∈ [−2, 0.5],
// Im c ∈ [0, 1.25].
//
//	for i := lo; i < hi; i++ {
//		ci := imMin + (imMax-imMin)*float64(i)/float64(n)
//		for j := 0; j < n; j++ {
//			cr := reMin + (reMax-reMin)*float64(j)/float64(n)
//			zr, zi, k := 0.0, 0.0, 0
//			for ; k < maxIter && zr*zr+zi*zi <= 4; k++ {
//				zr, zi = zr*zr-zi*zi+cr, 2*zr*zi+ci
//			}
//			dst[i*n+j] = int32(k)
//		}
//	}
func MandelbrotRows(dst []int32, n, maxIter, lo, hi int) {
	for i := lo; i < hi; i++ {
		ci := mandelImMin + (mandelImMax-mandelImMin)*float64(i)/float64(n)
		row := dst[i*n : (i+1)*n]
		for j := range row {
			cr := mandelReMin + (mandelReMax-mandelReMin)*float64(j)/float64(n)
			zr, zi, k := 0.0, 0.0, 0
			for ; k < maxIter && float64(zr*zr)+float64(zi*zi) <= 4; k++ {
				zr, zi = float64(zr*zr)-float64(zi*zi)+cr, float64(2*zr*zi)+ci
			}
			row[j] = int32(k)
		}
	}
}

// NBody layout: the input holds 7 rows of n values (x, y, z, vx, vy, vz, m),
// the output 6 (x, y, z, vx, vy, vz after the step).
const (
	nbodyIn  = 7
	nbodyOut = 6
)

// NBodyStep advances bodies [lo, hi) of n by one leapfrog-style step of dt
// under softened gravity (G = 1, softening² eps2), reading the state in in
// (7·n values: rows x, y, z, vx, vy, vz, m) and writing the new positions and
// velocities to out (6·n values: rows x, y, z, vx, vy, vz). Each body sums
// the pull of all n bodies in index order: O(n) per body, O(n²) per step.
//
//	for i := lo; i < hi; i++ {
//		var ax, ay, az float64
//		for j := 0; j < n; j++ {
//			dx, dy, dz := x[j]-x[i], y[j]-y[i], z[j]-z[i]
//			r2 := dx*dx + dy*dy + dz*dz + eps2
//			f := m[j] / (r2 * math.Sqrt(r2))
//			ax, ay, az = ax+f*dx, ay+f*dy, az+f*dz
//		}
//		vx'[i] = vx[i] + dt*ax; x'[i] = x[i] + dt*vx'[i] // and y, z
//	}
func NBodyStep(out, in []float64, n int, dt, eps2 float64, lo, hi int) {
	x, y, z := in[0:n], in[n:2*n], in[2*n:3*n]
	vx, vy, vz, m := in[3*n:4*n], in[4*n:5*n], in[5*n:6*n], in[6*n:7*n]
	ox, oy, oz := out[0:n], out[n:2*n], out[2*n:3*n]
	ovx, ovy, ovz := out[3*n:4*n], out[4*n:5*n], out[5*n:6*n]
	for i := lo; i < hi; i++ {
		xi, yi, zi := x[i], y[i], z[i]
		var ax, ay, az float64
		for j := range n {
			dx, dy, dz := x[j]-xi, y[j]-yi, z[j]-zi
			r2 := float64(dx*dx) + float64(dy*dy) + float64(dz*dz) + eps2
			f := m[j] / float64(r2*math.Sqrt(r2))
			ax, ay, az = ax+float64(f*dx), ay+float64(f*dy), az+float64(f*dz)
		}
		ovx[i] = vx[i] + float64(dt*ax)
		ovy[i] = vy[i] + float64(dt*ay)
		ovz[i] = vz[i] + float64(dt*az)
		ox[i] = xi + float64(dt*ovx[i])
		oy[i] = yi + float64(dt*ovy[i])
		oz[i] = zi + float64(dt*ovz[i])
	}
}
