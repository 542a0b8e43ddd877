package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// unroll is the number of vectors per iteration of an element-wise loop.
const unroll = 4

// stream is an element-wise loop: dst[i] = compute(in[0][i], in[1][i], …)
// for i in [0, n), with vector scalars sc.
type stream struct {
	d  Register   // destination pointer
	in []Register // input pointers
	n  Register   // elements left
	sc []VecVirtual
	// compute returns the result vector of one step. Its inputs are
	// memory operands in whole-vector steps and registers in the masked
	// tail; g.reg turns either into a register.
	compute func(in []Op) VecVirtual
}

// step computes count consecutive vectors and stores them with st.
func (g *gen) step(s *stream, count int, st func(VecVirtual, Mem)) {
	for k := 0; k < count; k++ {
		ops := make([]Op, len(s.in))
		for i, p := range s.in {
			ops[i] = Mem{Base: p, Disp: k * g.vbytes}
		}
		st(s.compute(ops), Mem{Base: s.d, Disp: k * g.vbytes})
	}
}

// maskedStep computes the first lanes of one vector, as the mask says,
// touching no memory outside them.
func (g *gen) maskedStep(s *stream, k mask) {
	ops := make([]Op, len(s.in))
	for i, p := range s.in {
		r := g.vec()
		g.loadMasked(Mem{Base: p}, k, r)
		ops[i] = r
	}
	g.storeMasked(s.compute(ops), k, Mem{Base: s.d})
}

// advance moves every pointer on by a constant number of elements.
func (g *gen) advance(s *stream, elems int) {
	for _, p := range append([]Register{s.d}, s.in...) {
		ADDQ(U32(elems*g.size), p)
	}
	SUBQ(U32(elems), s.n)
}

// advanceBy moves every pointer on by h elements.
func (g *gen) advanceBy(s *stream, h Register) {
	for _, p := range append([]Register{s.d}, s.in...) {
		LEAQ(Mem{Base: p, Index: h, Scale: uint8(g.size)}, p)
	}
	SUBQ(h, s.n)
}

// loops emits the loops of a stream: unrolled vectors, single vectors,
// then one masked vector for the tail; it ends by jumping to done.
func (g *gen) loops(s *stream, prefix string, nt bool, done string) {
	st := g.store
	if nt {
		st = g.storeNT
	}
	l := g.lanes()
	Label(prefix + "U")
	CMPQ(s.n, U32(unroll*l))
	JL(LabelRef(prefix + "1"))
	g.step(s, unroll, st)
	g.advance(s, unroll*l)
	JMP(LabelRef(prefix + "U"))

	Label(prefix + "1")
	CMPQ(s.n, U32(l))
	JL(LabelRef(prefix + "Tail"))
	g.step(s, 1, st)
	g.advance(s, l)
	JMP(LabelRef(prefix + "1"))

	Label(prefix + "Tail")
	TESTQ(s.n, s.n)
	JZ(LabelRef(done))
	g.maskedStep(s, g.tailMask(s.n))
	JMP(LabelRef(done))
}

// body emits a stream routine. With streaming, the nt parameter chooses
// non-temporal stores: the head up to the first aligned vector of dst is
// stored normally (masked), the whole vectors with VMOVNTP, the tail
// normally again, and an SFENCE orders the non-temporal stores before the
// routine returns. A dst that is not aligned to its element size can never
// be vector-aligned and takes the plain path.
func (g *gen) body(s *stream, streaming bool) {
	if streaming {
		nt := Load(Param("nt"), GP8())
		TESTB(nt, nt)
		JNZ(LabelRef("stream"))
	}
	g.loops(s, "plain", false, "done")

	if streaming {
		Label("stream")
		TESTQ(U32(g.size-1), s.d)
		JNZ(LabelRef("plainU"))
		h := GP64()
		MOVQ(s.d, h)
		NEGQ(h)
		ANDQ(U32(g.vbytes-1), h)
		SHRQ(U8(g.shift), h)
		CMPQ(h, s.n)
		CMOVQGT(s.n, h)
		TESTQ(h, h)
		JZ(LabelRef("streamU"))
		g.maskedStep(s, g.tailMask(h))
		g.advanceBy(s, h)
		g.loops(s, "stream", true, "fence")
		Label("fence")
		SFENCE()
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// elementwise emits a routine with a destination, inputs and scalars
// named by its Go signature.
func (g *gen) elementwise(op, sig string, ins, scalars []string, compute func(g *gen, in []Op, sc []VecVirtual) VecVirtual) {
	TEXT(g.fn(op), NOSPLIT, g.sig(sig))
	Pragma("noescape")
	s := &stream{d: Load(Param("d"), GP64())}
	for _, name := range ins {
		s.in = append(s.in, Load(Param(name), GP64()))
	}
	s.n = Load(Param("n"), GP64())
	for _, name := range scalars {
		s.sc = append(s.sc, g.param(name))
	}
	s.compute = func(in []Op) VecVirtual { return compute(g, in, s.sc) }
	g.body(s, true)
}

// binary returns the compute function of dst = a op b.
func binary(op func(g *gen, x, y, z Op)) func(g *gen, in []Op, _ []VecVirtual) VecVirtual {
	return func(g *gen, in []Op, _ []VecVirtual) VecVirtual {
		a := g.reg(in[0])
		op(g, in[1], a, a) // a = a op b
		return a
	}
}

func (g *gen) elementwiseOps() {
	g.elementwise("fill", "func(d *T, n int, v T, nt bool)", nil, []string{"v"},
		func(g *gen, in []Op, sc []VecVirtual) VecVirtual { return sc[0] })
	g.elementwise("copy", "func(d, a *T, n int, nt bool)", []string{"a"}, nil,
		func(g *gen, in []Op, sc []VecVirtual) VecVirtual { return g.reg(in[0]) })
	g.elementwise("scale", "func(d, a *T, n int, s T, nt bool)", []string{"a"}, []string{"s"},
		func(g *gen, in []Op, sc []VecVirtual) VecVirtual {
			r := g.vec()
			g.mul(in[0], sc[0], r) // s * a[i]
			return r
		})
	g.elementwise("add", "func(d, a, b *T, n int, nt bool)", []string{"a", "b"}, nil, binary((*gen).add))
	g.elementwise("sub", "func(d, a, b *T, n int, nt bool)", []string{"a", "b"}, nil, binary((*gen).sub))
	g.elementwise("mul", "func(d, a, b *T, n int, nt bool)", []string{"a", "b"}, nil, binary((*gen).mul))
	g.elementwise("div", "func(d, a, b *T, n int, nt bool)", []string{"a", "b"}, nil, binary((*gen).div))
	g.elementwise("addScaled", "func(d, a, b *T, n int, s T, nt bool)", []string{"a", "b"}, []string{"s"},
		func(g *gen, in []Op, sc []VecVirtual) VecVirtual {
			p := g.vec()
			g.mul(in[1], sc[0], p) // s * b[i], rounded
			g.add(in[0], p, p)     // a[i] + that, rounded
			return p
		})
}
