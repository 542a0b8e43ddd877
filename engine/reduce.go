package engine

import (
	"context"
	"fmt"
	"math"
	"reflect"
)

// Op combines partial results of a reduction. It is applied in the
// coordinator only, so f may be any Go function (it never crosses to a
// worker process). Combine order: partials are folded left to right in
// chunk order, starting from the identity.
type Op[R Number] struct {
	identity R
	f        func(a, b R) R
}

// Sum adds the partials (identity 0).
func Sum[R Number]() Op[R] { return Op[R]{f: func(a, b R) R { return a + b }} }

// Min keeps the smallest partial (identity: the largest value of R, +Inf
// for floats). A kernel over an empty chunk never runs, so the identity is
// the result only when the range is empty. For floating-point partials each
// step is math.Min, special cases included: -Inf wins over everything, then
// a NaN partial makes the result NaN (that NaN, payload kept), and -0 is
// smaller than +0.
func Min[R Number]() Op[R] { return Op[R]{identity: extreme[R](true), f: minOf[R]} }

// Max keeps the largest partial (identity: the smallest value of R, -Inf
// for floats). For floating-point partials each step is math.Max: +Inf
// wins over everything, then a NaN partial makes the result NaN, and +0 is
// larger than -0.
func Max[R Number]() Op[R] { return Op[R]{identity: extreme[R](false), f: maxOf[R]} }

// minOf is math.Min for any Number, in math.Min's order of special cases.
// x != x holds only for a NaN; a zero's sign and an infinity are read
// through float64, which keeps both (an integer has neither).
func minOf[R Number](a, b R) R {
	fa, fb := float64(a), float64(b)
	switch {
	case math.IsInf(fa, -1):
		return a
	case math.IsInf(fb, -1):
		return b
	case a != a:
		return a
	case b != b, b < a:
		return b
	case b == a && b == 0 && math.Signbit(fb):
		return b
	}
	return a
}

// maxOf is math.Max for any Number (see minOf).
func maxOf[R Number](a, b R) R {
	fa, fb := float64(a), float64(b)
	switch {
	case math.IsInf(fa, 1):
		return a
	case math.IsInf(fb, 1):
		return b
	case a != a:
		return a
	case b != b, b > a:
		return b
	case b == a && b == 0 && !math.Signbit(fb):
		return b
	}
	return a
}

// Combine makes an Op from an identity and an associative function.
func Combine[R Number](identity R, f func(a, b R) R) Op[R] { return Op[R]{identity: identity, f: f} }

// extreme returns the largest (or smallest) value of R.
func extreme[R Number](largest bool) R {
	v := reflect.New(reflect.TypeFor[R]()).Elem()
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if largest {
			v.SetFloat(math.Inf(1))
		} else {
			v.SetFloat(math.Inf(-1))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := v.Type().Bits()
		if largest {
			v.SetInt(int64(uint64(1)<<(bits-1) - 1))
		} else {
			v.SetInt(-1 << (bits - 1))
		}
	default: // unsigned
		if largest {
			v.SetUint(math.MaxUint64 >> (64 - v.Type().Bits()))
		}
	}
	return v.Interface().(R)
}

// Reduce runs the kernel over [0, n) (or the Range option's slice) on team
// t and combines the partial results of its chunks with op, in chunk order.
// With Deterministic the result does not depend on the team size; with
// other schedules the chunks (and so a float result's last bits) may. An
// empty range returns op's identity. Failures and cancellation are as for
// Kernel.For.
func (k *ReduceKernel[A, R]) Reduce(ctx context.Context, t *Team, n int, args A, op Op[R], opts ...Option) (R, error) {
	var zero R
	if k == nil || k.k == nil {
		return zero, errNoHandle
	}
	if op.f == nil {
		return zero, fmt.Errorf("engine: Reduce %q: zero Op; use Sum, Min, Max or Combine", k.k.name)
	}
	_, parts, err := t.do(ctx, k.k, n, args, opts)
	if err != nil {
		return zero, err
	}
	acc := op.identity
	for _, u := range parts {
		acc = op.f(acc, fromBits[R](u))
	}
	return acc, nil
}

// Partials runs the kernel like Reduce, always with a Deterministic
// schedule (opts' Deterministic grain if there is one, else Grain(n) of the
// global n), and returns the per-chunk partial results in chunk order, with
// the global index of the first chunk. Several teams (one per node of a
// hybrid run) each reduce a Range slice aligned to the grain; folding all
// their partials left to right in global chunk order gives exactly what
// Reduce over [0, n) gives on one team.
func (k *ReduceKernel[A, R]) Partials(ctx context.Context, t *Team, n int, args A, opts ...Option) (first int, partials []R, err error) {
	if k == nil || k.k == nil {
		return 0, nil, errNoHandle
	}
	opts = append(opts[:len(opts):len(opts)], deterministic)
	first, parts, err := t.do(ctx, k.k, n, args, opts)
	if err != nil {
		return 0, nil, err
	}
	out := make([]R, len(parts))
	for i, u := range parts {
		out[i] = fromBits[R](u)
	}
	return first, out, nil
}

// deterministic makes a plan Deterministic, keeping its grain if it is
// already.
func deterministic(p *plan) {
	if p.sched != schedDet {
		p.sched, p.size = schedDet, 0
	}
}
