package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// logistic emits the logistic map iterated steps times per element:
//
//	v := x[i]
//	for range steps {
//		v = (r * v) * (1 - v)
//	}
//	dst[i] = v
//
// Each step is a dependent chain of a subtraction and two products, so a
// block of vectors is iterated together to hide their latency: 8 zmm or
// 6 ymm registers in flight.
func (g *gen) logistic() {
	TEXT(g.fn("logistic"), NOSPLIT, g.sig("func(d, x *T, n int, r T, steps int)"))
	Pragma("noescape")
	d := Load(Param("d"), GP64())
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	r := g.param("r")
	steps := Load(Param("steps"), GP64())
	one := g.constant(g.one)
	l, u := g.lanes(), 6
	if g.avx512 {
		u = 8
	}
	c := GP64()
	block := func(prefix string, count int, load func(k int) VecVirtual, store func(k int, v VecVirtual)) {
		v := make([]VecVirtual, count)
		for k := range v {
			v[k] = load(k)
		}
		MOVQ(steps, c)
		Label(prefix + "Step")
		TESTQ(c, c)
		JLE(LabelRef(prefix + "Store"))
		t := make([]VecVirtual, count)
		for k := range v {
			t[k] = g.vec()
			g.sub(v[k], one, t[k]) // 1 - v
		}
		for k := range v {
			g.mul(r, v[k], v[k]) // r * v
		}
		for k := range v {
			g.mul(t[k], v[k], v[k]) // (r * v) * (1 - v)
		}
		DECQ(c)
		JMP(LabelRef(prefix + "Step"))
		Label(prefix + "Store")
		for k := range v {
			store(k, v[k])
		}
	}
	whole := func(k int) VecVirtual { return g.reg(Mem{Base: x, Disp: k * g.vbytes}) }
	put := func(k int, v VecVirtual) { g.store(v, Mem{Base: d, Disp: k * g.vbytes}) }
	advance := func(elems int) {
		ADDQ(U32(elems*g.size), d)
		ADDQ(U32(elems*g.size), x)
		SUBQ(U32(elems), n)
	}

	Label("loopU")
	CMPQ(n, U32(u*l))
	JL(LabelRef("loop1"))
	block("u", u, whole, put)
	advance(u * l)
	JMP(LabelRef("loopU"))

	Label("loop1")
	CMPQ(n, U32(l))
	JL(LabelRef("tail"))
	block("one", 1, whole, put)
	advance(l)
	JMP(LabelRef("loop1"))

	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	mk := g.tailMask(n)
	block("tail", 1,
		func(int) VecVirtual { v := g.vec(); g.loadMasked(Mem{Base: x}, mk, v); return v },
		func(_ int, v VecVirtual) { g.storeMasked(v, mk, Mem{Base: d}) })

	Label("done")
	VZEROUPPER()
	RET()
}
