package vec

import (
	"fmt"
	"math"
	"sync/atomic"
	"unsafe"
)

// Float is the constraint of vec's element types: float32, float64 and the
// types defined on them.
type Float interface{ ~float32 | ~float64 }

// Lanes returns the number of partial sums Sum and Dot keep for T: 16 for
// float64, 32 for float32 (128 bytes either way).
func Lanes[T Float]() int { return 128 / int(unsafe.Sizeof(T(0))) }

// impl returns the kernels of T.
func impl[T Float]() *kernels[T] {
	if unsafe.Sizeof(T(0)) == 8 {
		return (*kernels[T])(unsafe.Pointer(&k64))
	}
	return (*kernels[T])(unsafe.Pointer(&k32))
}

// streamMin is the size in bytes of a destination from which the
// element-wise operations use non-temporal stores (see SetStreamThreshold).
var streamMin atomic.Int64

func init() { streamMin.Store(DefaultStreamThreshold) }

// DefaultStreamThreshold is the destination size, in bytes, from which the
// element-wise operations store with non-temporal (streaming) stores. It is
// measured: BenchmarkStream, one thread on a 2-vCPU Sapphire Rapids VM (4 MiB
// L2 per core), plain against streaming stores, median of 6 (benchstat):
//
//	dst      fill            copy            triad
//	4 MiB    -21% (streams   ~               ~
//	         slower)
//	8 MiB    ~               ~               ~
//	16 MiB   ~               ~               ~
//	32 MiB   ~               -27% time       -43% time
//	64 MiB   -42% time       -56% time       -18% time
//
// (~: no difference at p < 0.05). Streaming pays from 32 MiB on and is never
// significantly better below, where the destination (and the inputs beside
// it) can still be in the caches for the next kernel to read; a streaming
// store would evict it. docs/KERNELS.md has the command and the full table.
const DefaultStreamThreshold = 32 << 20

// SetStreamThreshold sets the destination size in bytes from which Fill,
// Copy, Scale, Add, Sub, Mul, Div and AddScaled use non-temporal stores, and
// returns the previous value. 0 streams every store; math.MaxInt none. It
// applies to the whole process (each worker process of a team has its own)
// from the next call on, and changes no result, only where the written
// lines end up: in memory rather than in the caches. The pure-Go
// implementation never streams.
func SetStreamThreshold(bytes int) int {
	if bytes < 0 {
		bytes = 0
	}
	return int(streamMin.Swap(int64(bytes)))
}

// StreamThreshold returns the destination size in bytes from which the
// element-wise operations use non-temporal stores.
func StreamThreshold() int { return int(streamMin.Load()) }

// stream reports whether a destination of n elements of T is streamed.
func stream[T Float](n int) bool {
	return int64(n)*int64(unsafe.Sizeof(T(0))) >= streamMin.Load()
}

// Impl names the implementation in use: "avx512", "avx2" or "go".
func Impl() string { return implName }

// ---- checks ----

//go:noinline
func panicLen(op string, lens ...int) {
	panic(fmt.Sprintf("vec: %s: slice lengths differ %v", op, lens))
}

//go:noinline
func panicOverlap(op string) {
	panic("vec: " + op + ": dst overlaps an input without being the same slice")
}

// overlaps reports whether x and y, of n elements each, share memory
// without starting at the same address.
func overlaps[T Float](x, y []T) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	px, py := uintptr(unsafe.Pointer(unsafe.SliceData(x))), uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	size := uintptr(len(x)) * unsafe.Sizeof(T(0))
	return px != py && px < py+size && py < px+size
}

// disjoint reports whether x and y share no memory.
func disjoint[T Float](x, y []T) bool {
	if len(x) == 0 || len(y) == 0 {
		return true
	}
	px, py := uintptr(unsafe.Pointer(unsafe.SliceData(x))), uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	return px+uintptr(len(x))*unsafe.Sizeof(T(0)) <= py || py+uintptr(len(y))*unsafe.Sizeof(T(0)) <= px
}

func check1[T Float](op string, dst, a []T) {
	if len(a) != len(dst) {
		panicLen(op, len(dst), len(a))
	}
	if overlaps(dst, a) {
		panicOverlap(op)
	}
}

func check2[T Float](op string, dst, a, b []T) {
	if len(a) != len(dst) || len(b) != len(dst) {
		panicLen(op, len(dst), len(a), len(b))
	}
	if overlaps(dst, a) || overlaps(dst, b) {
		panicOverlap(op)
	}
}

func ptr[T Float](x []T) *T { return unsafe.SliceData(x) }

// ---- element-wise ----

// Fill sets every element of dst to v.
//
//	for i := range dst {
//		dst[i] = v
//	}
func Fill[T Float](dst []T, v T) {
	if len(dst) == 0 {
		return
	}
	impl[T]().fill(ptr(dst), len(dst), v, stream[T](len(dst)))
}

// Copy copies a into dst, which must have the same length. Overlapping
// slices are copied as the built-in copy copies them (as if through a
// temporary), without streaming stores.
//
//	for i := range dst {
//		dst[i] = a[i]
//	}
func Copy[T Float](dst, a []T) {
	if len(a) != len(dst) {
		panicLen("Copy", len(dst), len(a))
	}
	if len(dst) == 0 || ptr(dst) == ptr(a) {
		return
	}
	if !disjoint(dst, a) {
		copy(dst, a)
		return
	}
	impl[T]().copy(ptr(dst), ptr(a), len(dst), stream[T](len(dst)))
}

// Scale sets dst[i] = s·a[i] (STREAM's scale). dst may be a itself.
//
//	for i := range dst {
//		dst[i] = s * a[i]
//	}
func Scale[T Float](dst []T, s T, a []T) {
	check1("Scale", dst, a)
	if len(dst) == 0 {
		return
	}
	impl[T]().scale(ptr(dst), ptr(a), len(dst), s, stream[T](len(dst)))
}

// Add sets dst[i] = a[i] + b[i] (STREAM's add). dst may be a or b itself.
//
//	for i := range dst {
//		dst[i] = a[i] + b[i]
//	}
func Add[T Float](dst, a, b []T) {
	check2("Add", dst, a, b)
	if len(dst) == 0 {
		return
	}
	impl[T]().add(ptr(dst), ptr(a), ptr(b), len(dst), stream[T](len(dst)))
}

// Sub sets dst[i] = a[i] - b[i]. dst may be a or b itself.
//
//	for i := range dst {
//		dst[i] = a[i] - b[i]
//	}
func Sub[T Float](dst, a, b []T) {
	check2("Sub", dst, a, b)
	if len(dst) == 0 {
		return
	}
	impl[T]().sub(ptr(dst), ptr(a), ptr(b), len(dst), stream[T](len(dst)))
}

// Mul sets dst[i] = a[i]·b[i]. dst may be a or b itself.
//
//	for i := range dst {
//		dst[i] = a[i] * b[i]
//	}
func Mul[T Float](dst, a, b []T) {
	check2("Mul", dst, a, b)
	if len(dst) == 0 {
		return
	}
	impl[T]().mul(ptr(dst), ptr(a), ptr(b), len(dst), stream[T](len(dst)))
}

// Div sets dst[i] = a[i] / b[i]. dst may be a or b itself.
//
//	for i := range dst {
//		dst[i] = a[i] / b[i]
//	}
func Div[T Float](dst, a, b []T) {
	check2("Div", dst, a, b)
	if len(dst) == 0 {
		return
	}
	impl[T]().div(ptr(dst), ptr(a), ptr(b), len(dst), stream[T](len(dst)))
}

// AddScaled sets dst[i] = a[i] + s·b[i]: STREAM's triad, and BLAS's axpy
// when dst is a. It is not a fused multiply-add: the product is rounded,
// then the sum, on every machine (the explicit conversion in the loop
// forbids the Go compiler to fuse them). dst may be a or b itself.
//
//	for i := range dst {
//		dst[i] = a[i] + T(s*b[i])
//	}
func AddScaled[T Float](dst, a []T, s T, b []T) {
	check2("AddScaled", dst, a, b)
	if len(dst) == 0 {
		return
	}
	impl[T]().addScaled(ptr(dst), ptr(a), ptr(b), len(dst), s, stream[T](len(dst)))
}

// ---- reductions ----

// Sum returns the sum of a, added in vec's fixed order: L = Lanes[T]()
// partial sums, element i into partial sum i mod L, then the partial sums
// added pairwise by halving. Every implementation (AVX-512, AVX2, pure Go)
// adds in this order, so Sum gives the same bits on every machine; it is
// not the left-to-right sum, and is usually closer to the exact one.
//
//	var acc [L]T // zeros
//	for i, v := range a {
//		acc[i%L] += v
//	}
//	for w := L / 2; w >= 1; w /= 2 {
//		for j := range w {
//			acc[j] += acc[j+w]
//		}
//	}
//	return acc[0]
func Sum[T Float](a []T) T {
	if len(a) == 0 {
		return 0
	}
	return impl[T]().sum(ptr(a), len(a))
}

// Dot returns the dot product of a and b in Sum's order, each product
// rounded before it is added (no fused multiply-add), so that it too gives
// the same bits on every machine.
//
//	var acc [L]T // zeros
//	for i := range a {
//		acc[i%L] += T(a[i] * b[i])
//	}
//	// then combined as in Sum
func Dot[T Float](a, b []T) T {
	if len(a) != len(b) {
		panicLen("Dot", len(a), len(b))
	}
	if len(a) == 0 {
		return 0
	}
	return impl[T]().dot(ptr(a), ptr(b), len(a))
}

// Min returns the least element of a as math.Min sees it: -0 is less than
// +0, and a NaN makes the result NaN unless -Inf is there too
// (math.Min(-Inf, NaN) is -Inf: math.Min tests for -Inf first). The Min of no elements is +Inf,
// the identity of math.Min, so that the Min of a split slice is the Min of
// its parts' Mins. Which NaN (its payload bits) is not specified.
//
//	m := T(math.Inf(1))
//	for _, v := range a {
//		m = T(math.Min(float64(m), float64(v)))
//	}
//	return m
func Min[T Float](a []T) T {
	if len(a) == 0 {
		return T(math.Inf(1))
	}
	return impl[T]().min(ptr(a), len(a))
}

// Max returns the greatest element of a as math.Max sees it: +0 is greater
// than -0, and a NaN makes the result NaN unless +Inf is there too. The Max of no elements is
// -Inf. Which NaN is not specified.
//
//	m := T(math.Inf(-1))
//	for _, v := range a {
//		m = T(math.Max(float64(m), float64(v)))
//	}
//	return m
func Max[T Float](a []T) T {
	if len(a) == 0 {
		return T(math.Inf(-1))
	}
	return impl[T]().max(ptr(a), len(a))
}

// ---- stencil rows ----

func checkRow[T Float](op string, dst, up, mid, down []T) {
	if len(up) != len(dst) || len(mid) != len(dst) || len(down) != len(dst) {
		panicLen(op, len(dst), len(up), len(mid), len(down))
	}
	if !disjoint(dst, up) || !disjoint(dst, mid) || !disjoint(dst, down) {
		panic("vec: " + op + ": dst overlaps an input row")
	}
}

// JacobiRow computes one row of a Jacobi sweep of the 5-point Laplace
// stencil: each inner element of dst is the mean of its four neighbours in
// the rows up, mid and down, and the two end elements are copied from mid.
// dst must not overlap up, mid or down (double buffering); the inputs may
// overlap each other.
//
//	n := len(dst)
//	for j := 1; j < n-1; j++ {
//		dst[j] = 0.25 * (up[j] + down[j] + mid[j-1] + mid[j+1])
//	}
//	dst[0], dst[n-1] = mid[0], mid[n-1]
func JacobiRow[T Float](dst, up, mid, down []T) {
	checkRow("JacobiRow", dst, up, mid, down)
	n := len(dst)
	if n == 0 {
		return
	}
	if n >= 3 {
		impl[T]().jacobiRow(ptr(dst), ptr(up), ptr(mid), ptr(down), n)
	}
	dst[0], dst[n-1] = mid[0], mid[n-1]
}

// DiffuseRow computes one row of an explicit time step of the heat
// equation with the 5-point Laplacian and diffusion number alpha: each inner
// element of dst is mid[j] + alpha·lap, and the two end elements are copied
// from mid. The products are rounded before the sums (no fused
// multiply-add). dst must not overlap up, mid or down.
//
//	n := len(dst)
//	for j := 1; j < n-1; j++ {
//		lap := up[j] + down[j] + mid[j-1] + mid[j+1] - T(4*mid[j])
//		dst[j] = mid[j] + T(alpha*lap)
//	}
//	dst[0], dst[n-1] = mid[0], mid[n-1]
func DiffuseRow[T Float](dst, up, mid, down []T, alpha T) {
	checkRow("DiffuseRow", dst, up, mid, down)
	n := len(dst)
	if n == 0 {
		return
	}
	if n >= 3 {
		impl[T]().diffuseRow(ptr(dst), ptr(up), ptr(mid), ptr(down), n, alpha)
	}
	dst[0], dst[n-1] = mid[0], mid[n-1]
}

// ---- logistic map ----

// Logistic sets dst[i] to the logistic map v ↦ r·v·(1−v) iterated steps
// times from x[i], rounding as the loop does ((r·v) first, then the product
// with 1−v), so the result is bitwise the loop's. steps ≤ 0 copies x. dst
// may be x itself.
//
//	for i := range dst {
//		v := x[i]
//		for range steps {
//			v = r * v * (1 - v)
//		}
//		dst[i] = v
//	}
func Logistic[T Float](dst, x []T, r T, steps int) {
	check1("Logistic", dst, x)
	if len(dst) == 0 {
		return
	}
	impl[T]().logistic(ptr(dst), ptr(x), len(dst), r, steps)
}
