// Package bench is shmpar's kernel suite and the runner that measures it:
// the kernels behind cmd/shmbench's speedup tables, which double as
// examples of kernels written for package engine.
//
// # Kernels
//
// Each kernel has a serial reference, a plain Go function whose doc comment
// is its loop, destination first as in gonum (Triad(dst, x, s, y) sets
// dst[i] = x[i] + s·y[i]). A parallel run calls the kernel's body on
// sub-ranges [lo, hi) in every participant, so its result must equal the
// serial one bit for bit; Run checks that for every row it reports.
//
//	kernel      n counts            schedule       bytes per element  implementations  verified
//	copy        elements            static         16                 go vec           bitwise
//	scale       elements            static         16                 go vec           bitwise
//	add         elements            static         24                 go vec           bitwise
//	triad       elements            static         24                 go vec           bitwise
//	sum         elements            deterministic   8                 go vec           bitwise
//	dot         elements            deterministic  16                 go vec           bitwise
//	stencil     rows of n×n grid    static         16 per point/sweep go vec           bitwise
//	logistic    elements            static         (compute-bound)    go vec (simd)    bitwise
//	mandelbrot  rows of n×n image   dynamic        (irregular rows)   go               exact
//	nbody       bodies              static         (O(n²))            go               bitwise
//	empty       loop length         static         (no work)          go               every call succeeded
//
// Bytes are STREAM's counts: bytes read plus bytes written, no write-allocate
// traffic. The reductions run with engine.Deterministic, whose chunks and
// combine order depend only on n; their references add the same chunks in
// the same order, so they too are compared bitwise. Forced onto another
// schedule ("sum:dynamic"), a reduction is checked against the worst-case
// rounding bound of recursive summation, n·ε·Σ|term|, instead.
//
// # Implementations
//
// The kernels that package vec covers come in two implementations, run
// side by side so that vec's gain is a ratio within one run (Config.Impls):
//
//   - go (ImplGo): the reference loop itself, compiled by Go: scalar code,
//     no streaming stores. Its rows are labelled "triad/go".
//   - vec (ImplVec): the same function through package vec on the chunk
//     (vec.Copy, vec.Scale, vec.Add, vec.AddScaled, vec.Sum, vec.Dot,
//     vec.JacobiRow, vec.Logistic): AVX-512 or AVX2 assembly, streaming
//     stores for destinations of vec.StreamThreshold bytes or more. Rows
//     "triad/vec". It is the default.
//   - simd (ImplSIMD), logistic only, in programs built with
//     GOEXPERIMENT=simd on amd64: vec.LogisticSIMD, the map written in Go
//     with simd/archsimd. Rows "logistic/simd".
//
// The element-wise kernels, stencil and logistic give the reference loop's
// bits in every implementation (vec's element-wise operations are exact:
// no fused multiply-add, the loop's roundings), and are compared with it
// bitwise. vec.Sum and vec.Dot add in a fixed order of 16 partial sums that
// is not the left-to-right one, the same on every machine, so the vec rows
// of sum and dot have a reference of their own, LaneSum and LaneDot (the
// same deterministic chunks, each added in vec's order by a plain Go loop),
// and are compared with it bitwise too. mandelbrot, nbody and empty have
// one implementation, go, and run whatever Config.Impls says.
//
// # Runner
//
// Run measures kernels × implementations × backends × team sizes:
// worker-process teams (engine.Process), goroutine teams (engine.Goroutine,
// the baseline) and a serial loop. A team is started once per (backend, workers) and reused by
// every kernel; arrays are anonymous (memfd) and released when a kernel is
// done. Each row reports the median and minimum of its timed repetitions,
// the speedup against the same backend at 1 worker, the efficiency, GB/s for
// the bandwidth kernels, and whether the result was verified. The outputs
// are poisoned before the last repetition of each row, so a run that skips
// elements cannot pass on values an earlier run left behind. A row that
// fails verification is reported as failed, never dropped: fast and wrong
// is not a result.
//
// The timed repetitions go round-robin over the teams and the
// implementations of a kernel (and its schedules, when named next to each
// other: "mandelbrot:static,mandelbrot"), which share its arrays, so that a
// slow spell of a shared machine spreads over all rows instead of spoiling
// one; the figures to trust are ratios taken within one run. Each timed repetition
// starts with its team awake (an untimed empty For just before it), as in
// back-to-back calls: what a For costs a warm team is the empty kernel's
// row.
//
// # Across ranks
//
// RunRanks is Run across the ranks of an MPI job (package mpi; a program
// built with -tags mpi under mpirun), one team per rank: every row also
// runs on 1, 2, 4, … ranks, each rank its part of the loop (a block of
// elements or rows; for the reductions, whole chunks of mpi.Grain(n) added
// exactly, so sum and dot keep their bits for any ranks × workers), the
// stencil exchanging its edge rows after each sweep. Every rank verifies
// its own part, and the ranks agree on every failure, so they all return
// the same rows; a repetition's time is the slowest rank's.
//
// # Imports
//
// bench imports engine (the kernels run through the handles engine.Register
// and engine.RegisterReduce return), array (their data), vec, and mpi and
// mpi/exact for RunRanks; cmd/shmbench imports bench.
package bench
