package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The order of Sum and Dot. Both keep 128 bytes of lanes: 16 for float64,
// 32 for float32 (2 zmm or 4 ymm accumulators). Element i goes to lane
// i mod lanes, in index order, the tail included (a lane the tail does not
// reach is left as it is). The lanes are then combined by halving:
//
//	for w := lanes / 2; w >= 1; w /= 2 {
//		for j := 0; j < w; j++ {
//			acc[j] += acc[j+w]
//		}
//	}
//
// which is the pure-Go twin's loop and, in vector form, "add the upper half
// of the accumulators to the lower half" until one lane is left.

func (g *gen) reductions() {
	g.sumDot(false)
	g.sumDot(true)
	g.minMax(false)
	g.minMax(true)
}

// accumulators is the number of vector accumulators of Sum and Dot.
func (g *gen) accumulators() int { return 128 / g.vbytes }

// scalar returns the vector register of a scalar parameter, loaded with a
// VEX/EVEX move (an SSE move cannot reach registers 16 to 31).
func (g *gen) scalar(name string) VecVirtual {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	x := XMM()
	g.pick(VMOVSD, VMOVSS, b.Addr, x)
	return x
}

// ret stores lane 0 of x as the result.
func (g *gen) ret(x Register) {
	b, err := ReturnIndex(0).Resolve()
	if err != nil {
		panic(err)
	}
	g.pick(VMOVSD, VMOVSS, x, b.Addr)
}

func (g *gen) sumDot(dot bool) {
	op, sig := "sum", "func(a *T, n int) T"
	if dot {
		op, sig = "dot", "func(a, b *T, n int) T"
	}
	TEXT(g.fn(op), NOSPLIT, g.sig(sig))
	Pragma("noescape")
	ptrs := []Register{Load(Param("a"), GP64())}
	if dot {
		ptrs = append(ptrs, Load(Param("b"), GP64()))
	}
	n := Load(Param("n"), GP64())
	na, l := g.accumulators(), g.lanes()
	acc := make([]VecVirtual, na)
	for k := range acc {
		acc[k] = g.vec()
		g.zero(acc[k])
	}
	// term is the vector of terms at byte offset off: a[i], or the
	// rounded products a[i]*b[i].
	term := func(off int) Op {
		m := Mem{Base: ptrs[0], Disp: off}
		if !dot {
			return m
		}
		x := g.reg(m)
		g.mul(Mem{Base: ptrs[1], Disp: off}, x, x)
		return x
	}
	advance := func(elems int) {
		for _, p := range ptrs {
			ADDQ(U32(elems*g.size), p)
		}
		SUBQ(U32(elems), n)
	}

	// Two rounds over the accumulators per iteration, then one.
	Label("loop2")
	CMPQ(n, U32(2*na*l))
	JL(LabelRef("loop1"))
	for r := 0; r < 2; r++ {
		for k := range acc {
			g.add(term((r*na+k)*g.vbytes), acc[k], acc[k])
		}
	}
	advance(2 * na * l)
	JMP(LabelRef("loop2"))

	Label("loop1")
	CMPQ(n, U32(na*l))
	JL(LabelRef("tail"))
	for k := range acc {
		g.add(term(k*g.vbytes), acc[k], acc[k])
	}
	advance(na * l)
	JMP(LabelRef("loop1"))

	// The tail, n < na*l elements: whole vectors into acc[0], acc[1], …,
	// then the last partial vector into the next accumulator's first
	// lanes, its other lanes unchanged.
	Label("tail")
	for k := range acc {
		CMPQ(n, U32(l))
		JL(LabelRef(fmt.Sprintf("part%d", k)))
		g.add(term(0), acc[k], acc[k])
		advance(l)
	}
	JMP(LabelRef("combine"))
	for k := range acc {
		Label(fmt.Sprintf("part%d", k))
		TESTQ(n, n)
		JZ(LabelRef("combine"))
		mk := g.tailMask(n)
		x := g.vec()
		g.loadMasked(Mem{Base: ptrs[0]}, mk, x)
		if dot {
			y := g.vec()
			g.loadMasked(Mem{Base: ptrs[1]}, mk, y)
			g.mul(y, x, x)
		}
		if g.avx512 {
			g.pick(VADDPD, VADDPS, x, acc[k], mk.r, acc[k]) // merge: other lanes kept
		} else {
			t := g.vec()
			g.add(x, acc[k], t)
			g.blend(mk, t, acc[k], acc[k]) // acc = mask ? t : acc
		}
		JMP(LabelRef("combine"))
	}

	Label("combine")
	g.ret(g.fold(acc, g.add))
	VZEROUPPER()
	RET()
}

// fold combines the accumulators lane by lane with op, halving as the
// comment at the top of this file says, and returns the xmm register whose
// lane 0 holds the result.
func (g *gen) fold(acc []VecVirtual, op func(x, y, z Op)) Register {
	// Whole accumulators: the upper half of them into the lower half.
	for w := len(acc) / 2; w >= 1; w /= 2 {
		for j := 0; j < w; j++ {
			op(acc[j+w], acc[j], acc[j])
		}
	}
	var v Register = acc[0]
	// Then the upper half of the register into its lower half.
	for v.Size() > 16 {
		h := half(v)
		var u Register = XMM()
		if v.Size() == 64 {
			u = YMM()
			VEXTRACTF64X4(U8(1), v, u)
		} else if g.avx512 {
			VEXTRACTF32X4(U8(1), v, u)
		} else {
			VEXTRACTF128(U8(1), v, u)
		}
		op(u, h, h)
		v = h
	}
	// Within the xmm register.
	t := XMM()
	if g.pd() {
		VUNPCKHPD(v, v, t) // t[0] = v[1]
		op(t, v, v)
		return v
	}
	VMOVHLPS(v, v, t) // t[0:2] = v[2:4]
	op(t, v, v)
	t2 := XMM()
	VMOVSHDUP(v, t2) // t2[0] = v[1]
	op(t2, v, v)
	return v
}

// minMax emits Min or Max with math.Min/math.Max semantics: -0 is less
// than +0; a NaN anywhere gives NaN, unless -Inf is there too (math.Min
// checks for -Inf first, so math.Min(-Inf, NaN) is -Inf). VMINP is not that
// function (it returns its second operand when either is NaN or both are
// zero), but
//
//	min(x, y) = VMINP(x, y) | VMINP(y, x)
//
// propagates NaN and orders the zeros: the two agree when neither is NaN
// and x, y are not zeros of opposite signs; for ±0 the OR is -0; and when
// one is NaN, one of the two results is that NaN, and a NaN ORed with
// anything is a NaN. Beside it, a plain VMINP that drops NaNs tells whether
// -Inf occurred. Max is computed as -min(-x, …), so the accumulators start
// at +Inf for both.
func (g *gen) minMax(max bool) {
	op := "min"
	if max {
		op = "max"
	}
	TEXT(g.fn(op), NOSPLIT, g.sig("func(a *T, n int) T"))
	Pragma("noescape")
	a := Load(Param("a"), GP64())
	n := Load(Param("n"), GP64())
	l := g.lanes()
	inf := g.constant(g.inf)
	negInf := g.constant(g.inf | g.sign)
	fill := inf // the value of lanes past the end of a masked load
	var sign VecVirtual
	if max {
		sign = g.constant(g.sign)
		fill = negInf // +Inf once negated
	}
	// acc: the min with NaN; low: the min without NaN, for -Inf.
	acc, low := make([]VecVirtual, 4), make([]VecVirtual, 2)
	for k := range acc {
		acc[k] = g.vec()
		g.or(inf, inf, acc[k])
	}
	for k := range low {
		low[k] = g.vec()
		g.or(inf, inf, low[k])
	}
	term := func(m Op) VecVirtual {
		x := g.reg(m)
		if max {
			g.xor(sign, x, x)
		}
		return x
	}
	into := func(x VecVirtual, k int) {
		g.minInto(x, acc[k])
		g.min(low[k%len(low)], x, low[k%len(low)]) // NaN in x: keeps low
	}
	advance := func(elems int) {
		ADDQ(U32(elems*g.size), a)
		SUBQ(U32(elems), n)
	}

	Label("loop4")
	CMPQ(n, U32(4*l))
	JL(LabelRef("loop1"))
	for k := range acc {
		into(term(Mem{Base: a, Disp: k * g.vbytes}), k)
	}
	advance(4 * l)
	JMP(LabelRef("loop4"))

	Label("loop1")
	CMPQ(n, U32(l))
	JL(LabelRef("tail"))
	into(term(Mem{Base: a}), 0)
	advance(l)
	JMP(LabelRef("loop1"))

	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("combine"))
	mk := g.tailMask(n)
	x := g.vec()
	if g.avx512 {
		g.or(fill, fill, x)
		g.pick(VMOVUPD, VMOVUPS, Mem{Base: a}, mk.r, x) // merge: other lanes keep fill
	} else {
		y := g.vec()
		g.loadMasked(Mem{Base: a}, mk, y)
		g.blend(mk, y, fill, x) // x = mask ? y : fill
	}
	into(term(x), 0)

	Label("combine")
	r := g.fold(acc, func(x, y, _ Op) { g.minInto(x.(Register), y.(Register)) }) // y = min(x, y)
	lo := g.fold(low, func(x, y, z Op) { g.min(x, y, z) })                       // no NaN in low
	if g.pd() {
		VUCOMISD(negInf.AsX(), lo)
	} else {
		VUCOMISS(negInf.AsX(), lo)
	}
	JNE(LabelRef("result"))
	g.or(lo, lo, r) // -Inf occurred: it is the result
	Label("result")
	if max {
		g.xor(sign.AsX(), r, r)
	}
	g.ret(r)
	VZEROUPPER()
	RET()
}

// minInto sets acc = min(x, acc), NaN-propagating, -0 < +0 (see minMax).
func (g *gen) minInto(x, acc Register) {
	var t Register
	switch acc.Size() {
	case 64:
		t = ZMM()
	case 32:
		t = YMM()
	default:
		t = XMM()
	}
	g.min(x, acc, t)   // VMINP: x when either is NaN or both are zero
	g.min(acc, x, acc) // VMINP: acc in those cases
	g.or(t, acc, acc)
}
