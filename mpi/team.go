package mpi

import (
	"context"
	"fmt"
	"math"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/cpus"
	"github.com/shmpar/shmpar/mpi/exact"
)

// The distributed grain: chunks of at least minGrain elements, and at most
// maxChunks of them in a loop.
const (
	minGrain  = 1 << 14
	maxChunks = 1 << 20
)

// Grain returns the chunk grain of a distributed loop over [0, n): the
// smallest power of two of at least 16,384 that cuts [0, n) into at most
// 2^20 chunks. It depends on n alone, never on the number of ranks or
// workers, so the chunks of a loop — and the partial result of each chunk
// of a reduction — are the same however the loop is spread. Share cuts at
// its multiples, and Reduce runs every rank's part with
// engine.Deterministic(Grain(n)).
//
// It is not engine.Grain(n), which makes at most 1,024 chunks: enough for
// one team, too few to keep the workers of many nodes busy (a run of 1,000
// nodes of 32 cores has 32,000). Up to 2^20 chunks keep some 30 chunks per
// worker there, and 16,384 elements (128 KiB of float64) make a chunk long
// enough that claiming it costs under 1 % of the time it takes to stream.
func Grain(n int) int {
	g := minGrain
	for n > 0 && (n-1)/g >= maxChunks {
		g <<= 1
	}
	return g
}

// For runs kernel k over this rank's part of [0, n), c.Share(n), on the
// rank's team t: k.For with opts and engine.Range of the part (which
// replaces a Range in opts). It does not communicate: each rank returns its
// own error, and the others do not learn of it. A rank whose part failed
// ends the job (it exits with a non-zero status, without Finalize, and
// mpirun or srun ends the other ranks) or tells the others with Agree
// before its next collective call, so that no rank waits for ever on a
// rank that gave up.
func For[A any](ctx context.Context, c *Comm, t *engine.Team, k *engine.Kernel[A], n int, args A, opts ...engine.Option) error {
	if err := c.live("For"); err != nil {
		return err
	}
	lo, hi := c.Share(n)
	return k.For(ctx, t, n, args, append(opts[:len(opts):len(opts)], engine.Range(lo, hi))...)
}

// Reduce runs reduction kernel k over [0, n) on every rank's team, each
// rank over its part c.Share(n), and returns on every rank the reduction
// of the per-chunk partial results with op (Sum, Min or Max). The result
// has the same bits for any number of ranks and any team sizes: every rank
// runs its part at the distributed grain, engine.Deterministic(Grain(n)),
// so the chunks, and each chunk's partial, are those of a serial loop, and
// the partials are combined in a way that does not depend on how the
// chunks were spread:
//
//   - A floating-point Sum is the exact sum of the partials, rounded once
//     (package exact): each rank adds its partials to an exact accumulator
//     and one Allreduce of its 74 int64 words (592 bytes, however many
//     chunks) adds the accumulators. The serial reference is
//     exact.Sum(partials), the partials of the chunks [i·g, min((i+1)·g, n))
//     with g = Grain(n), each computed by one call of the kernel: not the
//     left-to-right fold of engine's Reduce, whose rounding depends on the
//     order. A float32 Sum is rounded once to float32.
//   - An integer Sum, Min and Max are exact in any order. Each rank folds
//     its partials with engine's Sum, Min or Max; one Allreduce of two words
//     combines the ranks. Integer sums wrap around as Go's do, so the result
//     is the serial fold's even on overflow. Float Min and Max follow
//     engine.Min and engine.Max bit for bit: -Inf (for Min; +Inf for Max)
//     wins over everything, then a NaN (the first in chunk order, its
//     payload kept), and -0 is smaller than +0; floats cross as integer keys
//     of their total order, and a NaN result costs one Bcast more.
//
// Reduce is collective: every rank calls it with the same n and op, and it
// agrees on failure at no extra cost (a word in the same Allreduce). A rank
// whose part failed returns its own error (a *engine.WorkerError, ctx's
// error, ...); the others return an error wrapping ErrOtherRank. Either way
// every rank returns, so the program may go on, or Finalize and exit. ctx
// ends this rank's part; the Allreduce itself waits for every rank.
func Reduce[A any, R Number](ctx context.Context, c *Comm, t *engine.Team, k *engine.ReduceKernel[A, R], n int, args A, op Op) (R, error) {
	var zero R
	if err := c.live("Reduce"); err != nil {
		return zero, err
	}
	if op < Sum || op > Max {
		return zero, fmt.Errorf("mpi: Reduce: %w: %v", ErrOp, op)
	}
	lo, hi := c.Share(n)
	opts := []engine.Option{engine.Range(lo, hi), engine.Deterministic(Grain(n))}
	dt := dtypeOf[R]()
	float := dt == dtFloat32 || dt == dtFloat64
	switch {
	case op == Sum && float:
		return reduceExact(ctx, c, t, k, n, args, opts, dt)
	case op == Sum:
		return reduceWrap(ctx, c, t, k, n, args, opts)
	}
	return reduceOrder(ctx, c, t, k, n, args, opts, op, dt)
}

// otherRank is the error of a collective call on a rank where it did not
// fail.
func (c *Comm) otherRank(call string, failed int64) error {
	if failed > 0 {
		return fmt.Errorf("mpi: %s: %w (%d of %d ranks)", call, ErrOtherRank, failed, c.size)
	}
	return fmt.Errorf("mpi: %s: %w", call, ErrOtherRank)
}

// reduceExact sums the partials exactly: an accumulator per rank, added
// across ranks with the failure count in one more word.
func reduceExact[A any, R Number](ctx context.Context, c *Comm, t *engine.Team, k *engine.ReduceKernel[A, R], n int, args A, opts []engine.Option, dt dtype) (R, error) {
	var zero R
	_, parts, err := k.Partials(ctx, t, n, args, opts...)
	var acc exact.Acc
	for _, p := range parts {
		acc.Add(float64(p))
	}
	var buf [exact.NumWords + 1]int64
	words := append(acc.AppendWords(buf[:0]), b2i(err != nil))
	if merr := Allreduce(c, words, Sum); merr != nil {
		return zero, merr
	}
	switch failed := words[exact.NumWords]; {
	case err != nil:
		return zero, err
	case failed > 0:
		return zero, c.otherRank("Reduce", failed)
	}
	var total exact.Acc
	if err := total.AddWords(words[:exact.NumWords]); err != nil {
		return zero, fmt.Errorf("mpi: Reduce: %w", err)
	}
	if dt == dtFloat32 {
		return R(total.Float32()), nil
	}
	return R(total.Float64()), nil
}

// reduceWrap adds integer partials modulo 2^64, which is the sum modulo
// 2^bits of R whatever R's width.
func reduceWrap[A any, R Number](ctx context.Context, c *Comm, t *engine.Team, k *engine.ReduceKernel[A, R], n int, args A, opts []engine.Option) (R, error) {
	var zero R
	s, err := k.Reduce(ctx, t, n, args, engine.Sum[R](), opts...)
	buf := [2]uint64{uint64(s), uint64(b2i(err != nil))}
	if merr := Allreduce(c, buf[:], Sum); merr != nil {
		return zero, merr
	}
	switch {
	case err != nil:
		return zero, err
	case buf[1] > 0:
		return zero, c.otherRank("Reduce", int64(buf[1]))
	}
	return R(buf[0]), nil
}

// reduceOrder reduces with Min or Max over int64 keys that order the
// values of R as engine's Min and Max do.
func reduceOrder[A any, R Number](ctx context.Context, c *Comm, t *engine.Team, k *engine.ReduceKernel[A, R], n int, args A, opts []engine.Option, op Op, dt dtype) (R, error) {
	var zero R
	eop, bad := engine.Min[R](), int64(-1) // a failure wins the Min
	if op == Max {
		eop, bad = engine.Max[R](), 1
	}
	v, err := k.Reduce(ctx, t, n, args, eop, opts...)
	buf := [2]int64{0, 0}
	if err != nil {
		buf[1] = bad
	}
	float := dt == dtFloat32 || dt == dtFloat64
	switch {
	case float:
		buf[0] = floatKey(float64(v), op, c.rank)
	case dt >= dtInt8 && dt <= dtInt64:
		buf[0] = int64(v)
	default:
		buf[0] = int64(uint64(v) ^ 1<<63)
	}
	if merr := Allreduce(c, buf[:], op); merr != nil {
		return zero, merr
	}
	switch {
	case err != nil:
		return zero, err
	case buf[1] != 0:
		return zero, c.otherRank("Reduce", 0)
	}
	switch {
	case !float:
		if dt >= dtInt8 && dt <= dtInt64 {
			return R(buf[0]), nil
		}
		return R(uint64(buf[0]) ^ 1<<63), nil
	}
	if r, ok := nanRank(buf[0], op, c.size); ok {
		// The first rank that has a NaN sends it, payload and all.
		b := [1]R{v}
		if err := Bcast(c, b[:], r); err != nil {
			return zero, err
		}
		return b[0], nil
	}
	return R(fromKey(buf[0], op)), nil
}

// floatKey maps x to an int64 whose integer order is the order engine's
// Min (or Max) gives floats: the total order of the bits (so -0 < +0),
// except that -Inf (for Min; +Inf for Max) comes first, then NaNs, ranked
// by the rank that holds them, lower ranks first.
func floatKey(x float64, op Op, rank int) int64 {
	switch {
	case op == Min && math.IsInf(x, -1):
		return math.MinInt64
	case op == Max && math.IsInf(x, 1):
		return math.MaxInt64
	case x != x:
		if op == Min {
			return math.MinInt64 + 1 + int64(rank)
		}
		return math.MaxInt64 - 1 - int64(rank)
	}
	k := int64(math.Float64bits(x))
	if k < 0 {
		k ^= math.MaxInt64
	}
	return k
}

// nanRank reports whether key is a NaN's key of floatKey, and the rank.
func nanRank(key int64, op Op, size int) (int, bool) {
	if op == Min {
		r := key - (math.MinInt64 + 1)
		return int(r), key != math.MinInt64 && r >= 0 && r < int64(size)
	}
	r := (math.MaxInt64 - 1) - key
	return int(r), key != math.MaxInt64 && r >= 0 && r < int64(size)
}

// fromKey inverts floatKey for a key that is not a NaN's.
func fromKey(key int64, op Op) float64 {
	switch {
	case op == Min && key == math.MinInt64:
		return math.Inf(-1)
	case op == Max && key == math.MaxInt64:
		return math.Inf(1)
	}
	if key < 0 {
		key ^= math.MaxInt64
	}
	return math.Float64frombits(uint64(key))
}

// Agree tells every rank of c whether any rank passed a non-nil err: it
// returns err on the ranks that passed one, an error wrapping ErrOtherRank
// (with how many ranks failed) on the others, and nil on every rank when
// none did. It is collective (an Allreduce of one word): every rank calls
// it. Use it after a step that may fail on some ranks (For, opening this
// rank's files) and before the next collective call, so that every rank
// stops, or goes on, together.
func (c *Comm) Agree(err error) error {
	if lerr := c.live("Agree"); lerr != nil {
		return lerr
	}
	buf := [1]int64{b2i(err != nil)}
	if merr := Allreduce(c, buf[:], Sum); merr != nil {
		if err != nil {
			return err
		}
		return merr
	}
	if err != nil {
		return err
	}
	if buf[0] > 0 {
		return c.otherRank("Agree", buf[0])
	}
	return nil
}

// ShareNode returns the option that sizes this rank's team for its node
// (engine.ShareNode with the node's figures): pass it to engine.Start.
//
//	team, err := engine.Start(world.ShareNode(), engine.Primary(true))
//
// Without an engine.Workers option (or with Workers(0)) the team has
// engine.UsableCPUs() workers: the CPUs the rank may run on (its affinity
// mask, which mpirun's --map-by ppr:1:node:PE=C and srun's --cpus-per-task=C
// narrow to C, capped by its cgroup's CPU quota). When the ranks on this
// node (Node) have more workers between them than the node has CPUs
// (online, capped by the cgroup quota), as with mpirun -np 3
// --oversubscribe on two cores, or ranks started with --bind-to none that
// each take every core, idle workers never spin (they sleep at once), unless
// an engine.Spin option other than 0 is given: spinning workers would take
// the CPUs that the other ranks' workers need, and every job would wait for
// a time slice. On a nil Comm the rank is taken as alone on its node.
func (c *Comm) ShareNode() engine.TeamOption {
	return engine.ShareNode(c.nodeRanks(), nodeCPUs())
}

// nodeRanks returns the number of ranks on this rank's node (1 when c is
// nil or does not know).
func (c *Comm) nodeRanks() int {
	if c != nil && c.nodeSize > 0 {
		return c.nodeSize
	}
	return 1
}

// nodeCPUs returns the CPUs of this node the ranks may share: those
// online, capped by the cgroup quota.
func nodeCPUs() int {
	n := cpus.Online()
	if q := cpus.Limit(); q > 0 && q < n {
		n = q
	}
	return n
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
