package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi"
	"github.com/shmpar/shmpar/mpi/exact"
)

// part is a rank's part of a run across ranks: rank of the first size
// ranks of world (a rank at or past size sits the row out, but takes part
// in its collective calls).
type part struct {
	world      *mpi.Comm
	rank, size int
}

// active reports whether the rank computes in this row.
func (p *part) active() bool { return p.rank < p.size }

// block returns the rank's rows or elements of a For kernel over [0, n):
// near-equal contiguous blocks, rank 0 first, like the rows of a domain
// decomposition.
func (p *part) block(n int) (lo, hi int) {
	if !p.active() {
		return 0, 0
	}
	return n * p.rank / p.size, n * (p.rank + 1) / p.size
}

// grain returns the rank's part of a reduction over [0, n): whole chunks
// of mpi.Grain(n) (mpi.ShareOf), so that each chunk's partial, and the
// exact sum of them, are those of a serial loop.
func (p *part) grain(n int) (lo, hi int) { return mpi.ShareOf(n, p.rank, p.size) }

// halo exchanges the rows at the edges of the rank's block of an n×n grid
// with the ranks above and below, so that a stencil sweep of the block
// reads the rows its neighbours wrote.
func (p *part) halo(grid []float64, n int) error {
	if !p.active() {
		return nil
	}
	lo, hi := p.block(n)
	up, down := p.rank-1, p.rank+1
	if up < 0 {
		up = mpi.ProcNull
	}
	if down >= p.size {
		down = mpi.ProcNull
	}
	var below, above []float64 // the rows just outside the block
	if hi < n {
		below = grid[hi*n : (hi+1)*n]
	}
	if lo > 0 {
		above = grid[(lo-1)*n : lo*n]
	}
	if _, err := mpi.Sendrecv(p.world, grid[lo*n:(lo+1)*n], up, below, down, 1); err != nil {
		return err
	}
	_, err := mpi.Sendrecv(p.world, grid[(hi-1)*n:hi*n], down, above, up, 2)
	return err
}

// runRanks reduces [0, n) across the ranks: this rank's partials, at the
// distributed grain, are added exactly, and one Allreduce adds the ranks'
// accumulators (every rank takes part, computing or not).
func (r reduction[A]) runRanks(ctx context.Context, x exec, n int, a A) (float64, error) {
	lo, hi := x.dist.grain(n)
	var parts []float64
	var err error
	switch {
	case x.team != nil:
		_, parts, err = r.k.Partials(ctx, x.team, n, a, engine.Range(lo, hi), engine.Deterministic(mpi.Grain(n)))
	default:
		err = ctx.Err()
		for c := lo; c < hi && err == nil; c += mpi.Grain(n) {
			parts = append(parts, r.body(a, c, min(c+mpi.Grain(n), hi)))
		}
	}
	var acc exact.Acc
	if err == nil {
		acc.AddSlice(parts)
	}
	// Always: the other ranks are in the same Allreduce.
	if aerr := x.dist.world.AllreduceExact(&acc); err == nil {
		err = aerr
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.k.Name(), err)
	}
	return acc.Float64(), nil
}

// RunRanks measures the kernels of cfg across the ranks of world, one team
// per rank: every kernel × implementation × number of ranks (ranks; empty
// means 1, 2, 4, … up to world.Size()) × backend × workers per rank. In a
// row of r ranks the first r ranks each run their part of the loop (a
// block of its elements or rows; for the reductions, whole chunks of
// mpi.Grain(n), combined exactly across ranks, so sum and dot have the
// same bits for any ranks × workers); the other ranks sit it out. Every
// rank must call RunRanks with the same cfg and ranks.
//
// Each rank allocates the kernel's whole arrays and fills its inputs, but
// runs and verifies only its part: every rank checks its part against the
// serial reference, and a row is verified when every rank's part was
// (the reductions: the exact sum of the chunks' partials, the reference
// of mpi.Reduce). The stencil's ranks exchange the rows at the edges of
// their blocks after each sweep, as a domain decomposition does.
//
// Timing is as in Run (warm-up, round-robin repetitions, poisoned outputs
// before the last), with a barrier before each timed repetition; a
// repetition's time is the slowest rank's. Speedup is against the same
// kernel and backend at 1 rank × 1 worker, efficiency speedup ÷ (ranks ×
// workers). Every rank gets the same rows; a failure on one rank is every
// rank's (mpi's Agree after each repetition). Teams are configured with
// world.ShareNode, so they do not spin on an oversubscribed node. The
// rows' Ranks field says how many ranks ran them.
func RunRanks(ctx context.Context, world *mpi.Comm, cfg Config, ranks []int) ([]Result, error) {
	p, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	if len(ranks) == 0 {
		ranks = WorkersUpTo(world.Size())
	}
	for _, r := range ranks {
		if r < 1 || r > world.Size() {
			return nil, fmt.Errorf("%w: ranks = %d, want 1 ≤ ranks ≤ %d (the job's size)", ErrConfig, r, world.Size())
		}
	}
	ranks = slices.Compact(slices.Sorted(slices.Values(ranks)))
	for _, g := range p.groups {
		if k := g[0].Kernel; k.Name == "stencil" && cfg.n(k) < ranks[len(ranks)-1] {
			return nil, fmt.Errorf("%w: stencil: n = %d rows is fewer than %d ranks", ErrConfig, cfg.n(k), ranks[len(ranks)-1])
		}
	}
	teams := map[point]*engine.Team{}
	defer func() {
		for _, t := range teams {
			t.Close()
		}
	}()
	total := 0
	for _, g := range p.groups {
		total += len(g) * len(ranks) * len(p.points) * (p.warmup + p.reps)
	}
	progress := cfg.counter(total)
	var results []Result
	for _, g := range p.groups {
		rows, err := runGroupRanks(ctx, world, &cfg, p, g, ranks, teams, progress)
		if err != nil {
			return nil, err
		}
		results = append(results, rows...)
	}
	setRatios(results)
	return results, nil
}

// teamRanks returns the team of pt on this rank, starting it on first use
// with world.ShareNode; the ranks agree on whether all started.
func teamRanks(world *mpi.Comm, teams map[point]*engine.Team, pt point, cfg *Config) (*engine.Team, error) {
	var t *engine.Team
	var err error
	if pt.backend != BackendSerial {
		if t = teams[pt]; t == nil {
			if t, err = engine.Start(append(teamOptions(pt, cfg), world.ShareNode())...); err == nil {
				teams[pt] = t
			}
		}
	}
	if err := world.Agree(err); err != nil {
		return nil, fmt.Errorf("bench: start %s team of %d: %w", pt.backend, pt.workers, err)
	}
	return t, nil
}

// runGroupRanks is runGroup across ranks: the specs g of one kernel, on
// every number of ranks and every point.
func runGroupRanks(ctx context.Context, world *mpi.Comm, cfg *Config, p *plan, g []Spec, ranks []int, teams map[point]*engine.Team, progress func(string)) ([]Result, error) {
	k := g[0].Kernel
	n := cfg.n(k)
	inst, err := k.setup(n, cfg.Fault == k.Name)
	if err := world.Agree(err); err != nil {
		if inst != nil {
			inst.close()
		}
		return nil, fmt.Errorf("bench: set up %s at n = %d: %w", g[0].Label, n, err)
	}
	defer inst.close()
	runtime.GC()
	npt := len(p.points)
	per := len(ranks) * npt
	rows := make([]Result, len(g)*per)
	xs := make([]exec, len(rows))
	for i := range rows {
		sp, r, pt := g[i/per], ranks[i%per/npt], p.points[i%npt]
		t, err := teamRanks(world, teams, pt, cfg)
		if err != nil {
			return nil, err
		}
		xs[i] = exec{team: t, sched: option(sp.Schedule, cfg.Chunk), det: sp.Schedule == "deterministic", impl: sp.Impl,
			dist: &part{world: world, rank: world.Rank(), size: r}}
		sched := sp.Schedule
		if t == nil {
			sched = ""
		}
		rows[i] = Result{Kernel: sp.Label, Backend: pt.backend, Workers: pt.workers, Ranks: r, N: n, Reps: p.reps,
			Name: k.Name, Impl: sp.Impl, Schedule: sched, Class: k.Class, Calls: inst.calls()}
	}
	label := func(i int, what string) string {
		return fmt.Sprintf("%s %d×%s/%d %s", rows[i].Kernel, rows[i].Ranks, rows[i].Backend, rows[i].Workers, what)
	}
	prev := -1
	// once runs row i once on every rank. Whether a row has failed is
	// agreed, so every rank takes the same branches and makes the same
	// collective calls.
	once := func(i int, timed, last bool) error {
		r := &rows[i]
		if r.Err != nil {
			return nil
		}
		if last {
			inst.poison()
		}
		if timed {
			settle(xs, i, prev)
			prev = i
			wake(ctx, xs[i])
		}
		if err := world.Barrier(); err != nil {
			return err
		}
		t0 := time.Now()
		err := inst.run(ctx, xs[i])
		dt := time.Since(t0)
		if err = world.Agree(err); err != nil {
			if !isMPIError(err) {
				r.Err = fmt.Errorf("%s on %d×%s/%d: %w", r.Kernel, r.Ranks, r.Backend, r.Workers, err)
				return nil
			}
			return err
		}
		if timed {
			r.Samples = append(r.Samples, dt.Seconds()/float64(r.Calls))
		}
		if last {
			if err := world.Agree(verifyPart(inst, xs[i])); err != nil {
				if isMPIError(err) {
					return err
				}
				r.Err = fmt.Errorf("%s on %d×%s/%d: %w", r.Kernel, r.Ranks, r.Backend, r.Workers, err)
				return nil
			}
			r.Verified = true
		}
		return nil
	}
	for i := range rows {
		for range p.warmup {
			if err := once(i, false, false); err != nil {
				return nil, err
			}
			progress(label(i, "warm-up"))
		}
	}
	for rep := range p.reps {
		for j := range rows {
			i := (j + rep) % len(rows)
			if err := once(i, true, rep == p.reps-1); err != nil {
				return nil, err
			}
			progress(label(i, fmt.Sprintf("rep %d/%d", rep+1, p.reps)))
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for i := range rows {
		r := &rows[i]
		if len(r.Samples) > 0 { // as many on every rank: the slowest rank's time
			if err := mpi.Allreduce(world, r.Samples, mpi.Max); err != nil {
				return nil, err
			}
			r.MedianS, r.MinS = median(r.Samples), slices.Min(r.Samples)
		}
		if r.Err != nil {
			r.Verified = false
		}
	}
	return rows, nil
}

// isMPIError reports whether err is a failure of MPI itself (the job
// cannot go on), not of a kernel or a check.
func isMPIError(err error) bool {
	var e *mpi.Error
	return errors.As(err, &e) && !errors.Is(err, mpi.ErrOtherRank)
}

// partVerifier is an instance that can check this rank's part alone.
type partVerifier interface {
	verifyPart(x exec) error
}

// verifyPart checks this rank's part of inst's outputs (all of them for an
// instance without parts, such as empty).
func verifyPart(inst instance, x exec) error {
	if v, ok := inst.(partVerifier); ok {
		return v.verifyPart(x)
	}
	return inst.verify()
}

func (s *streamInst) verifyPart(x exec) error { return s.verifyRange(x.bounds(s.n)) }

func (l *logisticInst) verifyPart(x exec) error {
	lo, hi := x.bounds(l.n)
	return compareFrom("dst", lo, l.args.Dst.Data()[lo:hi], l.want[lo:hi])
}

func (m *mandelInst) verifyPart(x exec) error {
	lo, hi := x.bounds(m.n)
	return m.verifyRows(lo, hi)
}

func (b *nbodyInst) verifyPart(x exec) error {
	lo, hi := x.bounds(b.n)
	out := b.args.Out.Data()
	for row := range nbodyOut {
		o := row * b.n
		if err := compareFrom("out", o+lo, out[o+lo:o+hi], b.want[o+lo:o+hi]); err != nil {
			return err
		}
	}
	return nil
}

func (s *stencilInst) verifyPart(x exec) error {
	if s.last == nil {
		return fmt.Errorf("%w: no sweep ran", ErrMismatch)
	}
	lo, hi := x.bounds(s.n)
	return compareFrom("grid", lo*s.n, s.last.Data()[lo*s.n:hi*s.n], s.want[lo*s.n:hi*s.n])
}

// verifyPart compares the sum across ranks with the exact sum of the
// partials of the chunks of mpi.Grain(n), computed serially by the same
// implementation: the reference of mpi.Reduce.
func (r *reduceInst) verifyPart(x exec) error {
	key := "ranks/" + x.impl
	want, ok := r.want[key]
	if !ok {
		var parts []float64
		a := r.args
		a.Fault = false // the reference is what a correct kernel gives
		g := mpi.Grain(r.n)
		for lo := 0; lo < r.n; lo += g {
			if r.dot {
				parts = append(parts, pick(dotReductions, x).body(a, lo, min(lo+g, r.n)))
			} else {
				parts = append(parts, pick(sumReductions, x).body(a, lo, min(lo+g, r.n)))
			}
		}
		want = exact.Sum(parts)
		r.want[key] = want
	}
	if math.Float64bits(r.got) != math.Float64bits(want) {
		return fmt.Errorf("%w: %v, want %v bitwise (the exact sum of the chunks' partials)", ErrMismatch, r.got, want)
	}
	return nil
}

// compareFrom is compare for a slice of outputs that starts at index off.
func compareFrom(what string, off int, got, want []float64) error {
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return fmt.Errorf("%w: %s[%d] = %v, want %v", ErrMismatch, what, off+i, got[i], want[i])
		}
	}
	return nil
}
