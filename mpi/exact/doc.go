// Package exact sums float64 values exactly and rounds once, so a sum has the
// same bits however its terms were split, ordered, grouped or spread over
// processes and machines.
//
// An Acc is a fixed-point number 2,144 bits wide (67 chunks of 32 bits in
// int64 words, least bit 2^-1074), wide enough to hold every finite float64
// and any sum of fewer than 2^63 of them without rounding. Add splits a
// float64's 53-bit significand over the two chunks its exponent selects;
// carries are propagated every 1,024 adds, so an add is a few integer
// operations (about a nanosecond). Float64 rounds the exact value once to the
// nearest float64, ties to even: the result is the correctly rounded sum, the
// same as math/big computes it with enough precision. This is the approach of
// Radford Neal's xsum "small superaccumulator", written from its description.
//
// # Why this accumulator and not another
//
// shmpar reduces a global index range over teams on several machines (package
// mpi) and wants a float sum that is bitwise identical for any number of
// ranks and workers, while each rank sends O(1) bytes. The candidates were:
//
//   - A fixed pairwise tree over the global chunk numbers. It needs no new
//     arithmetic and works for any associative combine, but a rank whose
//     share does not cover whole subtrees must send O(log chunks) partial
//     roots, the ranks must agree on the tree and combine the roots in its
//     order (a gather, not an MPI_Allreduce), and its result is one
//     particular rounding of the sum, not a canonical one.
//   - Binned summation (ReproBLAS): about six doubles a rank and cheap adds,
//     but its result is reproducible rather than correctly rounded, and it
//     needs a user-defined MPI operation.
//   - An exact accumulator (this package): adds cost about as much as binned
//     summation, the result is the correctly rounded exact sum, so the
//     reference is simply "the exact sum of the terms, rounded once", and the
//     merge of accumulators is integer addition. Its words (AppendWords) are
//     additive, so ranks combine them with one plain MPI_Allreduce(MPI_SUM,
//     MPI_INT64_T) of NumWords (73) words, 584 bytes, in whatever order and
//     tree the MPI library likes.
//
// What is summed is up to the caller: the elements themselves, or the
// per-chunk partials of a reduction whose chunks are fixed by the global n
// (engine's Deterministic grain), which keeps the per-element cost of the
// kernel and still gives a result independent of the number of ranks and
// workers: the exact sum of those partials, rounded once.
//
// # IEEE 754 special values
//
// A NaN addend, or both a +Inf and a -Inf, make the sum NaN (always
// math.NaN(), so the bits do not depend on which NaN came first); otherwise
// an infinite addend makes it that infinity. A finite sum is ±Inf only when
// its correctly rounded value overflows: partial sums never overflow, so
// MaxFloat64 + MaxFloat64 - MaxFloat64 is MaxFloat64, not +Inf as a left to
// right float64 loop gives. An exact zero is -0 when every addend was -0,
// and +0 otherwise (and for an empty sum).
//
// # Products
//
// A kernel that sums products, such as a dot product, must round each product
// to float64 before it is added, or the result depends on whether the
// compiler fused the multiply and the add (the Go spec allows it, and the
// compiler does it on arm64, ppc64le, riscv64 and s390x):
// write a.Add(float64(x*y)), or s += float64(x*y) in a plain loop; the
// explicit conversion forbids the fusion.
//
// # Concurrency
//
// An Acc is a value (no pointers) that one goroutine uses at a time. To sum
// in parallel, give each worker its own Acc and Merge them, or combine their
// AppendWords; the result does not depend on how the work was split.
package exact
