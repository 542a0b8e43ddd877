// Package vec holds the SIMD building blocks of array kernels: element-wise
// operations, reductions, the rows of 5-point stencils and the logistic map,
// on []float64 and []float32, destination first (gonum's habit), each
// documented by its reference loop.
//
//	element-wise   Fill Copy Scale Add Sub Mul Div AddScaled Logistic
//	reductions     Sum Dot Min Max
//	stencil rows   JacobiRow DiffuseRow
//
// A kernel of the engine runs them on its share of the index space:
//
//	var triad = engine.Register("triad", func(_ *engine.Ctx, a TriadArgs, lo, hi int) error {
//		vec.AddScaled(a.Dst.Data()[lo:hi], a.X.Data()[lo:hi], a.S, a.Y.Data()[lo:hi])
//		return nil
//	})
//
// The functions are generic over Float (float32, float64 and types defined
// on them), one name per operation as in gonum's floats, because shmpar's
// arrays come in both widths (Array[float32], Array[float64]) and kernels
// are often generic themselves; two sets of names (AddF32, AddF64) would
// double the API for no gain. The element type is told apart by its size,
// a constant in each instantiation, so the choice costs nothing at run
// time. Underneath, each operation has its own routine per type and
// instruction set. They call, per element type, one of three implementations chosen
// when the program starts: AVX-512 assembly (AVX512F, AVX512VL and BMI2),
// AVX2 assembly, or pure Go. Impl says which. The assembly is generated with
// avo by the module in internal/asmgen (`go generate ./vec`); the build tag
// purego, and every architecture but amd64, use the pure-Go kernels.
//
// # Exactness
//
// Results are part of the contract, and do not depend on the machine or the
// implementation:
//
//   - An element-wise operation gives bit for bit what its reference loop
//     gives, every product rounded before it is added: AddScaled and
//     DiffuseRow are not fused multiply-adds, on any machine (the loops
//     convert each product to T, which forbids the Go compiler to fuse it on
//     the architectures that have FMA).
//   - Sum and Dot add in one fixed order: Lanes[T]() partial sums (16 for
//     float64, 32 for float32), element i into partial sum i mod Lanes, then
//     the partial sums added pairwise by halving. It is not the
//     left-to-right order, but it is the same order in the AVX-512 (2 zmm
//     accumulators), AVX2 (4 ymm) and pure-Go (an array of 16 or 32)
//     kernels, so a deterministic reduction gives the same bits on every
//     machine.
//   - Min and Max agree with math.Min and math.Max: -0 < +0, NaN wins over
//     every number but -Inf (Min) or +Inf (Max). The Min of nothing is +Inf,
//     the Max of nothing -Inf.
//   - Where a result is NaN, which NaN (its sign and payload bits) is not
//     specified: hardware and the Go compiler do not agree on it.
//
// # Arguments
//
// Slices passed together must have the same length; a length mismatch is a
// programmer error and panics ("vec: Add: slice lengths differ [8 9]"),
// like gonum's floats. The element-wise operations allow dst to be an input
// (the same slice: in place), and panic if dst overlaps an input any other
// way, which would make the result depend on the order of the stores; Copy
// instead handles any overlap as the built-in copy does. The stencil rows
// panic if dst overlaps an input row at all.
//
// # Streaming stores
//
// Fill, Copy, Scale, Add, Sub, Mul, Div and AddScaled write a destination
// of StreamThreshold bytes or more with non-temporal stores (VMOVNTPD and
// VMOVNTPS, aligned: the head up to the first 64-byte line of dst is stored
// normally), which skip the caches and do not read the destination's lines
// first; an SFENCE before the call returns makes the stores visible to any
// other core or process like ordinary ones. The default threshold,
// DefaultStreamThreshold, is measured (see its comment and
// docs/KERNELS.md): a smaller destination is still in the caches when the
// next kernel reads it. SetStreamThreshold changes it for the process.
//
// # Concurrency
//
// The functions keep no state but the implementation and the threshold, and
// may be called from any number of goroutines on disjoint destinations (the
// engine's participants each on their own [lo, hi)). The threshold is an
// atomic; the implementation is fixed at init.
//
// # Imports
//
// vec imports golang.org/x/sys/cpu and the standard library only; it knows
// nothing of segments or the engine, so any package may use it.
package vec
