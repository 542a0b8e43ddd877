package bench

import (
	"context"
	"fmt"

	"github.com/shmpar/shmpar/engine"
)

// KernelPrefix is the prefix of the engine names under which the suite's
// kernels are registered ("bench/triad", ...), so they cannot collide with
// a program's own kernels.
const KernelPrefix = "bench/"

// exec is where and how a kernel runs: a team with a schedule, or nothing
// (serial: the body is called directly in the calling goroutine), and the
// implementation of the kernel.
type exec struct {
	team  *engine.Team  // nil: serial
	sched engine.Option // schedule of the kernel on a team
	det   bool          // sched is Deterministic
	impl  string        // ImplGo, ImplVec or ImplSIMD; "" is ImplGo
	dist  *part         // this rank's part of a run across ranks (RunRanks), nil otherwise
}

// bounds returns the range of [0, n) that x runs: all of it, or this
// rank's part.
func (x exec) bounds(n int) (lo, hi int) {
	if x.dist == nil {
		return 0, n
	}
	return x.dist.block(n)
}

// faultAt returns the first index of the chunk where a kernel told to
// fail (Config.Fault) goes wrong when run on x over [0, n): 0, or across
// ranks the first index of the last rank's block, so that a failure is
// that rank's to find.
func (x exec) faultAt(n int) int {
	if x.dist == nil {
		return 0
	}
	lo, _ := (&part{rank: x.dist.size - 1, size: x.dist.size}).block(n)
	return lo
}

// faultAtGrain is faultAt for a reduction, whose parts across ranks are
// whole chunks of mpi.Grain(n).
func (x exec) faultAtGrain(n int) int {
	if x.dist == nil {
		return 0
	}
	lo, _ := (&part{rank: x.dist.size - 1, size: x.dist.size}).grain(n)
	return lo
}

// forOpts returns the options of a For on x's team over [0, n).
func (x exec) forOpts(n int) []engine.Option {
	if x.dist == nil {
		return []engine.Option{x.sched}
	}
	lo, hi := x.dist.block(n)
	return []engine.Option{x.sched, engine.Range(lo, hi)}
}

// pick returns the implementation of x from m. Run only asks a kernel for
// the implementations it has, so a missing one is a bug of the suite.
func pick[L any](m impls[L], x exec) L {
	impl := x.impl
	if impl == "" {
		impl = ImplGo
	}
	l, ok := m[impl]
	if !ok {
		panic(fmt.Sprintf("bench: no implementation %q of this kernel", impl))
	}
	return l
}

// loop is a For kernel: a body over [lo, hi) registered with the engine
// under KernelPrefix+name, which can also be called serially.
type loop[A any] struct {
	k    *engine.Kernel[A]
	body func(a A, lo, hi int)
}

// newLoop registers body as the For kernel KernelPrefix+name. Every kernel of
// the suite writes each output element from inputs it does not modify, so
// all are registered Idempotent: a chunk lost with a dead worker is re-run.
func newLoop[A any](name string, body func(a A, lo, hi int)) loop[A] {
	k := engine.Register(KernelPrefix+name, func(_ *engine.Ctx, a A, lo, hi int) error {
		body(a, lo, hi)
		return nil
	}, engine.Idempotent())
	return loop[A]{k: k, body: body}
}

// run runs the loop over [0, n) on x (this rank's part of it in a run
// across ranks).
func (l loop[A]) run(ctx context.Context, x exec, n int, a A) error {
	if x.team == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		lo, hi := x.bounds(n)
		l.body(a, lo, hi)
		return nil
	}
	return l.k.For(ctx, x.team, n, a, x.forOpts(n)...)
}

// reduction is a Reduce kernel returning a float64 partial per chunk.
type reduction[A any] struct {
	k    *engine.ReduceKernel[A, float64]
	body func(a A, lo, hi int) float64
}

func newReduction[A any](name string, body func(a A, lo, hi int) float64) reduction[A] {
	k := engine.RegisterReduce(KernelPrefix+name, func(_ *engine.Ctx, a A, lo, hi int) (float64, error) {
		return body(a, lo, hi), nil
	}, engine.Idempotent())
	return reduction[A]{k: k, body: body}
}

// run reduces [0, n) on x with a sum of the partials. Serially it adds the
// partials of the chunks [k·g, (k+1)·g), g = engine.Grain(n), left to right:
// the same chunks and order as the engine's Deterministic schedule, so the
// results are bitwise equal.
func (r reduction[A]) run(ctx context.Context, x exec, n int, a A) (float64, error) {
	if x.dist != nil {
		return r.runRanks(ctx, x, n, a)
	}
	if x.team == nil {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return chunked(n, func(lo, hi int) float64 { return r.body(a, lo, hi) }), nil
	}
	s, err := r.k.Reduce(ctx, x.team, n, a, engine.Sum[float64](), x.sched)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.k.Name(), err)
	}
	return s, nil
}

// chunked adds f over the chunks of [0, n) at the multiples of
// engine.Grain(n), in chunk order, starting from 0 as engine.Sum does.
func chunked(n int, f func(lo, hi int) float64) float64 {
	g := engine.Grain(n)
	s := 0.0
	for lo := 0; lo < n; lo += g {
		s += f(lo, min(lo+g, n))
	}
	return s
}
