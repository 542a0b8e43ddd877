package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// rowOps emits the 5-point stencil rows. Each routine computes the inner
// elements j = 1 … n-2 of a row of n ≥ 3 elements; the Go wrapper copies the
// two end elements. The inputs of element j are up[j], down[j], mid[j-1],
// mid[j+1] and mid[j]: five streams, each a pointer into the three rows.
func (g *gen) rowOps() {
	g.row("jacobiRow", "func(d, up, mid, down *T, n int)", nil,
		func(g *gen, in []Op, _ []VecVirtual, c []VecVirtual) VecVirtual {
			// 0.25 * (((up + down) + left) + right)
			t := g.reg(in[0])
			g.add(in[1], t, t)
			g.add(in[2], t, t)
			g.add(in[3], t, t)
			g.mul(c[0], t, t)
			return t
		}, 0.25)
	g.row("diffuseRow", "func(d, up, mid, down *T, n int, alpha T)", []string{"alpha"},
		func(g *gen, in []Op, sc []VecVirtual, c []VecVirtual) VecVirtual {
			// mid + alpha * ((((up + down) + left) + right) - 4*mid)
			lap := g.reg(in[0])
			g.add(in[1], lap, lap)
			g.add(in[2], lap, lap)
			g.add(in[3], lap, lap)
			mid := g.reg(in[4])
			f := g.vec()
			g.mul(mid, c[0], f) // 4 * mid, rounded
			g.sub(f, lap, lap)  // lap - 4*mid
			g.mul(lap, sc[0], lap)
			g.add(lap, mid, lap) // mid + alpha*lap
			return lap
		}, 4)
}

// row emits a stencil row routine; k is the constant it needs.
func (g *gen) row(op, sig string, scalars []string, compute func(g *gen, in []Op, sc, c []VecVirtual) VecVirtual, k float64) {
	TEXT(g.fn(op), NOSPLIT, g.sig(sig))
	Pragma("noescape")
	d := Load(Param("d"), GP64())
	up := Load(Param("up"), GP64())
	mid := Load(Param("mid"), GP64())
	down := Load(Param("down"), GP64())
	n := Load(Param("n"), GP64())
	s := &stream{d: d, n: n}
	for _, name := range scalars {
		s.sc = append(s.sc, g.param(name))
	}
	c := []VecVirtual{g.constant(g.bits(k))}
	// Element j = 1 … n-2: d+1, up+1, down+1, left = mid, right = mid+2,
	// centre = mid+1.
	SUBQ(U8(2), n)
	ADDQ(U8(g.size), d)
	ADDQ(U8(g.size), up)
	ADDQ(U8(g.size), down)
	right := GP64()
	LEAQ(Mem{Base: mid, Disp: 2 * g.size}, right)
	s.in = []Register{up, down, mid, right}
	if op == "diffuseRow" {
		centre := GP64()
		LEAQ(Mem{Base: mid, Disp: g.size}, centre)
		s.in = append(s.in, centre)
	}
	s.compute = func(in []Op) VecVirtual { return compute(g, in, s.sc, c) }
	g.body(s, false)
}
