// Package bench is shmpar's kernel suite and the runner that measures it:
// the kernels behind cmd/shmbench's speedup tables, which double as
// examples of kernels written for package engine.
//
// # Kernels
//
// Each kernel has a serial reference, a plain Go function whose doc comment
// is its loop, destination first as in gonum (Triad(dst, x, s, y) sets
// dst[i] = x[i] + s·y[i]). A parallel run calls the same function on
// sub-ranges [lo, hi) in every participant, so its result must equal the
// serial one bit for bit; Run checks that for every row it reports.
//
//	kernel      n counts            schedule       bytes per element  verified
//	copy        elements            static         16                 bitwise
//	scale       elements            static         16                 bitwise
//	add         elements            static         24                 bitwise
//	triad       elements            static         24                 bitwise
//	sum         elements            deterministic   8                 bitwise
//	dot         elements            deterministic  16                 bitwise
//	stencil     rows of n×n grid    static         16 per point/sweep bitwise
//	logistic    elements            static         (compute-bound)    bitwise
//	mandelbrot  rows of n×n image   dynamic        (irregular rows)   exact
//	nbody       bodies              static         (O(n²))            bitwise
//	empty       loop length         static         (no work)          every call succeeded
//
// Bytes are STREAM's counts: bytes read plus bytes written, no write-allocate
// traffic. The reductions run with engine.Deterministic, whose chunks and
// combine order depend only on n; their reference (Sum, Dot) adds the same
// chunks in the same order, so they too are compared bitwise. Forced onto
// another schedule ("sum:dynamic"), a reduction is checked against the
// worst-case rounding bound of recursive summation, n·ε·Σ|term|, instead.
//
// The kernels are registered with the engine at package initialization
// under KernelPrefix+name ("bench/triad"), so any program that imports
// bench and calls engine.Main first has them in its worker processes.
//
// # Runner
//
// Run measures kernels × backends × team sizes: worker-process teams
// (engine.Process), goroutine teams (engine.Goroutine, the baseline) and a
// serial loop. A team is started once per (backend, workers) and reused by
// every kernel; arrays are anonymous (memfd) and released when a kernel is
// done. Each row reports the median and minimum of its timed repetitions,
// the speedup against the same backend at 1 worker, the efficiency, GB/s for
// the bandwidth kernels, and whether the result was verified. The outputs
// are poisoned before the last repetition of each row, so a run that skips
// elements cannot pass on values an earlier run left behind. A row that
// fails verification is reported as failed, never dropped: fast and wrong
// is not a result.
//
// The timed repetitions go round-robin over the teams, so that a slow spell
// of a shared machine spreads over all rows instead of spoiling one; the
// figures to trust are ratios taken within one run. Each timed repetition
// starts with its team awake (an untimed empty For just before it), as in
// back-to-back calls: what a For costs a warm team is the empty kernel's
// row.
//
// # Imports
//
// bench imports engine (the kernels run through the handles engine.Register
// and engine.RegisterReduce return) and array (their data); cmd/shmbench
// imports bench.
package bench
