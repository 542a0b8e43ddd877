package bench

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/shmpar/shmpar/array"
)

// The instances of the suite's kernels: their data in shared arrays, a
// run on a team or serially, and the check against the serial reference.

// arrays allocates anonymous float64 arrays and closes them together.
type arrays struct {
	f64 []*array.Array[float64]
	i32 []*array.Array[int32]
}

func (as *arrays) float(n int) (*array.Array[float64], error) {
	a, err := array.CreateAnon[float64](n)
	if err != nil {
		return nil, fmt.Errorf("bench: allocate %d float64: %w", n, err)
	}
	as.f64 = append(as.f64, a)
	return a, nil
}

func (as *arrays) close() error {
	var errs []error
	for _, a := range as.f64 {
		errs = append(errs, a.Close())
	}
	for _, a := range as.i32 {
		errs = append(errs, a.Close())
	}
	as.f64, as.i32 = nil, nil
	return errors.Join(errs...)
}

// fillInput fills x with deterministic values in [lo, lo+1), different per
// seed: a cheap hash, so no two arrays are equal and sums are not exact.
func fillInput(x []float64, seed uint64, lo float64) {
	for i := range x {
		h := (uint64(i) + 1) * (0x9E3779B97F4A7C15 + seed*0x632BE59BD9B4E019)
		h ^= h >> 29
		x[i] = lo + float64(h>>11)/(1<<53)
	}
}

// compare checks got against want bitwise and names the first difference.
func compare(what string, got, want []float64) error {
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			return fmt.Errorf("%w: %s[%d] = %v, want %v", ErrMismatch, what, i, got[i], want[i])
		}
	}
	return nil
}

func poisonAll(xs ...[]float64) {
	for _, x := range xs {
		for i := range x {
			x[i] = math.NaN()
		}
	}
}

// ---- STREAM: copy, scale, add, triad ----

type streamInst struct {
	arrays
	op   int // 1 copy, 2 scale, 3 add, 4 triad
	n    int
	args binaryArgs
}

func setupStream(op int) func(n int, fault bool) (instance, error) {
	return func(n int, fault bool) (instance, error) {
		s := &streamInst{op: op, n: n}
		var err error
		if s.args.Dst, err = s.float(n); err == nil {
			if s.args.X, err = s.float(n); err == nil {
				s.args.Y, err = s.float(n)
			}
		}
		if err != nil {
			s.close()
			return nil, err
		}
		fillInput(s.args.X.Data(), 1, 1)
		fillInput(s.args.Y.Data(), 2, 1)
		s.args.S, s.args.Fault, s.args.Gen = StreamScalar, fault, newGen()
		return s, nil
	}
}

func (s *streamInst) calls() int { return 1 }

func (s *streamInst) run(ctx context.Context, x exec) error {
	a := s.args
	a.FaultAt = x.faultAt(s.n)
	switch s.op {
	case 1:
		return pick(copyLoops, x).run(ctx, x, s.n, unaryArgs{Dst: a.Dst, X: a.X, Fault: a.Fault, FaultAt: a.FaultAt, Gen: a.Gen})
	case 2:
		return pick(scaleLoops, x).run(ctx, x, s.n, unaryArgs{Dst: a.Dst, X: a.X, S: a.S, Fault: a.Fault, FaultAt: a.FaultAt, Gen: a.Gen})
	case 3:
		return pick(addLoops, x).run(ctx, x, s.n, a)
	default:
		return pick(triadLoops, x).run(ctx, x, s.n, a)
	}
}

func (s *streamInst) poison() { poisonAll(s.args.Dst.Data()) }

// verify recomputes each element with the reference expression: every
// implementation must give its bits (vec's element-wise operations are
// exact, see package vec).
func (s *streamInst) verify() error { return s.verifyRange(0, s.n) }

// verifyRange is verify for the elements [lo, hi).
func (s *streamInst) verifyRange(lo, hi int) error {
	d, x, y, c := s.args.Dst.Data(), s.args.X.Data(), s.args.Y.Data(), s.args.S
	for i := lo; i < hi; i++ {
		var want float64
		switch s.op {
		case 1:
			want = x[i]
		case 2:
			want = c * x[i]
		case 3:
			want = x[i] + y[i]
		default:
			want = x[i] + float64(c*y[i])
		}
		if math.Float64bits(d[i]) != math.Float64bits(want) {
			return fmt.Errorf("%w: dst[%d] = %v, want %v", ErrMismatch, i, d[i], want)
		}
	}
	return nil
}

// ---- reductions: sum, dot ----

type reduceInst struct {
	arrays
	dot  bool
	n    int
	args reduceArgs
	det  bool               // verified bitwise (Deterministic schedule)
	impl string             // the implementation that ran last
	want map[string]float64 // the serial reference per implementation, in deterministic chunk order
	abs  float64            // Σ|term|, for the tolerance of other schedules
	got  float64
}

func setupReduce(dot bool) func(n int, fault bool) (instance, error) {
	return func(n int, fault bool) (instance, error) {
		r := &reduceInst{dot: dot, n: n, det: true, want: map[string]float64{}}
		var err error
		if r.args.X, err = r.float(n); err == nil && dot {
			r.args.Y, err = r.float(n)
		}
		if err != nil {
			r.close()
			return nil, err
		}
		r.args.Fault, r.args.Gen = fault, newGen()
		x := r.args.X.Data()
		fillInput(x, 3, -0.5) // mixed signs: the order of the sum matters
		if dot {
			y := r.args.Y.Data()
			fillInput(y, 4, -0.5)
			for i := range x {
				r.abs += math.Abs(x[i] * y[i])
			}
		} else {
			for _, v := range x {
				r.abs += math.Abs(v)
			}
		}
		return r, nil
	}
}

// reference returns the serial result of impl, computed on first use: the
// go implementation adds each chunk left to right (Sum, Dot), the vec
// implementation in vec's fixed order of 16 partial sums (LaneSum,
// LaneDot), both with the chunks of the Deterministic schedule.
func (r *reduceInst) reference(impl string) float64 {
	if w, ok := r.want[impl]; ok {
		return w
	}
	x, y := r.args.X.Data(), []float64(nil)
	if r.dot {
		y = r.args.Y.Data()
	}
	var w float64
	switch {
	case impl == ImplVec && r.dot:
		w = LaneDot(x, y)
	case impl == ImplVec:
		w = LaneSum(x)
	case r.dot:
		w = Dot(x, y)
	default:
		w = Sum(x)
	}
	r.want[impl] = w
	return w
}

func (r *reduceInst) calls() int { return 1 }

func (r *reduceInst) run(ctx context.Context, x exec) error {
	var err error
	r.det = x.team == nil || x.det
	r.impl = x.impl
	a := r.args
	a.FaultAt = x.faultAtGrain(r.n)
	if r.dot {
		r.got, err = pick(dotReductions, x).run(ctx, x, r.n, a)
	} else {
		r.got, err = pick(sumReductions, x).run(ctx, x, r.n, a)
	}
	return err
}

func (r *reduceInst) poison() { r.got = math.NaN() }

// verify compares bitwise for a Deterministic schedule; for another schedule
// the chunks, and so the rounding, may differ from the reference's, and the
// result must be within the worst-case bound of recursive summation,
// n·ε·Σ|term| (which also bounds the 16-lane order of vec).
func (r *reduceInst) verify() error {
	want := r.reference(r.impl)
	if r.det {
		if math.Float64bits(r.got) != math.Float64bits(want) {
			return fmt.Errorf("%w: %v, want %v bitwise", ErrMismatch, r.got, want)
		}
		return nil
	}
	tol := float64(r.n) * 0x1p-52 * r.abs
	if !(math.Abs(r.got-want) <= tol) {
		return fmt.Errorf("%w: %v, want %v ± %.3g", ErrMismatch, r.got, want, tol)
	}
	return nil
}

// ---- stencil ----

type stencilInst struct {
	arrays
	n        int
	u0, a, b *array.Array[float64]
	fault    bool
	gen      uint64
	want     []float64
	last     *array.Array[float64]
}

func setupStencil(n int, fault bool) (instance, error) {
	if n < 3 {
		return nil, fmt.Errorf("bench: stencil: %w: n = %d, want an n×n grid with n ≥ 3", ErrBadSize, n)
	}
	if n > 1<<15 {
		return nil, fmt.Errorf("bench: stencil: %w: n = %d is more than 32768 rows (8 GiB per buffer)", ErrBadSize, n)
	}
	s := &stencilInst{n: n, fault: fault, gen: newGen()}
	var err error
	if s.u0, err = s.float(n * n); err == nil {
		if s.a, err = s.float(n * n); err == nil {
			s.b, err = s.float(n * n)
		}
	}
	if err != nil {
		s.close()
		return nil, err
	}
	fillInput(s.u0.Data(), 5, 0)
	// The reference: the same sweeps serially, double-buffered on the heap.
	cur, nxt := append([]float64(nil), s.u0.Data()...), make([]float64, n*n)
	for range StencilSweeps {
		Stencil(nxt, cur, n)
		cur, nxt = nxt, cur
	}
	s.want = cur
	return s, nil
}

func (s *stencilInst) calls() int { return 1 }

// run does StencilSweeps sweeps, a For per sweep: u0 → a, a → b, b → a, …
// The initial grid u0 is never written, so every repetition does the same
// work from the same start.
func (s *stencilInst) run(ctx context.Context, x exec) error {
	src, dst, other := s.u0, s.a, s.b
	for range StencilSweeps {
		if err := pick(stencilLoops, x).run(ctx, x, s.n, stencilArgs{Dst: dst, Src: src, N: s.n, Fault: s.fault, FaultAt: x.faultAt(s.n), Gen: s.gen}); err != nil {
			return err
		}
		if x.dist != nil { // the next sweep reads the rows around this rank's
			if err := x.dist.halo(dst.Data(), s.n); err != nil {
				return err
			}
		}
		src, dst, other = dst, other, dst
	}
	s.last = src
	return nil
}

func (s *stencilInst) poison() { poisonAll(s.a.Data(), s.b.Data()); s.last = nil }

func (s *stencilInst) verify() error {
	if s.last == nil {
		return fmt.Errorf("%w: no sweep ran", ErrMismatch)
	}
	return compare("grid", s.last.Data(), s.want)
}

// ---- logistic ----

type logisticInst struct {
	arrays
	n    int
	args logisticArgs
	want []float64
}

func setupLogistic(n int, fault bool) (instance, error) {
	l := &logisticInst{n: n}
	var err error
	if l.args.Dst, err = l.float(n); err == nil {
		l.args.X, err = l.float(n)
	}
	if err != nil {
		l.close()
		return nil, err
	}
	x := l.args.X.Data()
	fillInput(x, 6, 0)
	for i := range x {
		x[i] = 0.05 + 0.9*x[i] // inside (0, 1)
	}
	l.args.R, l.args.Steps, l.args.Fault, l.args.Gen = LogisticR, LogisticSteps, fault, newGen()
	l.want = make([]float64, n)
	Logistic(l.want, x, LogisticR, LogisticSteps)
	return l, nil
}

func (l *logisticInst) calls() int { return 1 }
func (l *logisticInst) run(ctx context.Context, x exec) error {
	a := l.args
	a.FaultAt = x.faultAt(l.n)
	return pick(logisticLoops, x).run(ctx, x, l.n, a)
}
func (l *logisticInst) poison()       { poisonAll(l.args.Dst.Data()) }
func (l *logisticInst) verify() error { return compare("dst", l.args.Dst.Data(), l.want) }

// ---- mandelbrot ----

type mandelInst struct {
	arrays
	n    int
	args mandelArgs
	want []int32
}

func setupMandel(n int, fault bool) (instance, error) {
	if n > 1<<15 {
		return nil, fmt.Errorf("bench: mandelbrot: %w: n = %d is more than 32768 rows", ErrBadSize, n)
	}
	m := &mandelInst{n: n}
	a, err := array.CreateAnon[int32](n * n)
	if err != nil {
		return nil, fmt.Errorf("bench: allocate %d int32: %w", n*n, err)
	}
	m.i32 = append(m.i32, a)
	m.args = mandelArgs{Dst: a, N: n, Iter: MandelbrotIter, Fault: fault, Gen: newGen()}
	m.want = make([]int32, n*n)
	MandelbrotRows(m.want, n, MandelbrotIter, 0, n)
	return m, nil
}

func (m *mandelInst) calls() int { return 1 }
func (m *mandelInst) run(ctx context.Context, x exec) error {
	a := m.args
	a.FaultAt = x.faultAt(m.n)
	return mandelLoop.run(ctx, x, m.n, a)
}
func (m *mandelInst) poison() {
	d := m.args.Dst.Data()
	for i := range d {
		d[i] = -1
	}
}
func (m *mandelInst) verify() error { return m.verifyRows(0, m.n) }

// verifyRows is verify for the rows [lo, hi).
func (m *mandelInst) verifyRows(lo, hi int) error {
	d := m.args.Dst.Data()
	for i := lo * m.n; i < hi*m.n; i++ {
		if d[i] != m.want[i] {
			return fmt.Errorf("%w: pixel (%d, %d) = %d, want %d", ErrMismatch, i/m.n, i%m.n, d[i], m.want[i])
		}
	}
	return nil
}

// ---- nbody ----

type nbodyInst struct {
	arrays
	n    int
	args nbodyArgs
	want []float64
}

func setupNBody(n int, fault bool) (instance, error) {
	if n > 1<<20 {
		return nil, fmt.Errorf("bench: nbody: %w: n = %d bodies is more than 2^20 (an O(n²) step would take hours)", ErrBadSize, n)
	}
	b := &nbodyInst{n: n}
	var err error
	if b.args.In, err = b.float(nbodyIn * n); err == nil {
		b.args.Out, err = b.float(nbodyOut * n)
	}
	if err != nil {
		b.close()
		return nil, err
	}
	in := b.args.In.Data()
	fillInput(in[:3*n], 7, -1)      // positions in [-1, 1)³
	fillInput(in[3*n:6*n], 8, -0.5) // velocities
	for i := range in[3*n : 6*n] {
		in[3*n+i] *= 0.1
	}
	fillInput(in[6*n:], 9, 1) // masses in [1, 2)
	for i := range in[6*n:] {
		in[6*n+i] /= float64(n)
	}
	b.args.N, b.args.Dt, b.args.Eps, b.args.Fault, b.args.Gen = n, NBodyDt, NBodyEps2, fault, newGen()
	b.want = make([]float64, nbodyOut*n)
	NBodyStep(b.want, in, n, NBodyDt, NBodyEps2, 0, n)
	return b, nil
}

func (b *nbodyInst) calls() int { return 1 }
func (b *nbodyInst) run(ctx context.Context, x exec) error {
	a := b.args
	a.FaultAt = x.faultAt(b.n)
	return nbodyLoop.run(ctx, x, b.n, a)
}
func (b *nbodyInst) poison()       { poisonAll(b.args.Out.Data()) }
func (b *nbodyInst) verify() error { return compare("out", b.args.Out.Data(), b.want) }

// ---- empty ----

type emptyInst struct {
	n     int
	fault bool
	ran   int // calls that returned nil in the last run
}

func setupEmpty(n int, fault bool) (instance, error) { return &emptyInst{n: n, fault: fault}, nil }

func (e *emptyInst) calls() int { return EmptyCalls }

// run makes EmptyCalls For calls back to back.
func (e *emptyInst) run(ctx context.Context, x exec) error {
	a := emptyArgs{Fault: e.fault, FaultAt: x.faultAt(e.n)}
	e.ran = 0
	for range EmptyCalls {
		var err error
		if x.team == nil {
			lo, hi := x.bounds(e.n)
			err = emptyBody(a, lo, hi)
		} else {
			err = emptyKernel.For(ctx, x.team, e.n, a, x.forOpts(e.n)...)
		}
		if err != nil {
			return err
		}
		e.ran++
	}
	return nil
}

func (e *emptyInst) poison() { e.ran = 0 }

// verify checks that every call of the last run succeeded: there is no
// output to compare.
func (e *emptyInst) verify() error {
	if e.ran != EmptyCalls {
		return fmt.Errorf("%w: %d of %d calls ran", ErrMismatch, e.ran, EmptyCalls)
	}
	return nil
}

func (e *emptyInst) close() error { return nil }
