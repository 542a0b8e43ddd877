package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is an instruction set the routines are generated for.
type isa struct {
	name   string // suffix of the routine names
	vbytes int    // bytes in a vector register
	avx512 bool
}

var (
	avx512 = isa{name: "AVX512", vbytes: 64, avx512: true}
	avx2   = isa{name: "AVX2", vbytes: 32}
)

// elem is an element type.
type elem struct {
	name   string // infix of the routine names
	gotype string
	size   int
	shift  uint64 // log2(size)
	one    uint64 // bits of 1.0
	inf    uint64 // bits of +Inf
	sign   uint64 // the sign bit
}

var (
	f64 = elem{name: "F64", gotype: "float64", size: 8, shift: 3,
		one: 0x3FF0000000000000, inf: 0x7FF0000000000000, sign: 1 << 63}
	f32 = elem{name: "F32", gotype: "float32", size: 4, shift: 2,
		one: 0x3F800000, inf: 0x7F800000, sign: 1 << 31}
)

// bits returns the bits of the float v in the element type.
func (e elem) bits(v float64) uint64 {
	switch v {
	case 0.25:
		if e.size == 8 {
			return 0x3FD0000000000000
		}
		return 0x3E800000
	case 4:
		if e.size == 8 {
			return 0x4010000000000000
		}
		return 0x40800000
	}
	panic(fmt.Sprintf("asmgen: no bits for %v", v))
}

// gen emits the routines of one element type for one instruction set.
type gen struct {
	isa
	elem
	maskTable Mem // AVX2: L all-ones lanes then L zero lanes
}

// newMaskTables emits the AVX2 tail-mask tables, keyed by element size: a
// mask of r leading lanes is the vector that starts r lanes before the
// zeros.
func newMaskTables() map[int]Mem {
	t := map[int]Mem{}
	for _, size := range []int{8, 4} {
		lanes := avx2.vbytes / size
		m := GLOBL(fmt.Sprintf("tailmask%d", 8*size), RODATA|NOPTR)
		for i := 0; i < 2*lanes; i++ {
			var v uint64 // a zero lane
			if i < lanes {
				v = ^uint64(0) >> (64 - 8*size) // a lane of ones
			}
			if size == 8 {
				DATA(8*i, U64(v))
			} else {
				DATA(4*i, U32(uint32(v)))
			}
		}
		t[size] = m
	}
	return t
}

func (g *gen) lanes() int { return g.vbytes / g.size }

// fn names a routine: addF64AVX512.
func (g *gen) fn(op string) string { return op + g.elem.name + g.isa.name }

// sig substitutes the element type for T in a Go signature.
func (g *gen) sig(s string) string {
	out := ""
	for _, c := range s {
		if c == 'T' {
			out += g.gotype
		} else {
			out += string(c)
		}
	}
	return out
}

func (g *gen) vec() VecVirtual {
	if g.avx512 {
		return ZMM()
	}
	return YMM()
}

// half returns the register of the low half of a vector register.
func half(r Register) Register {
	v := r.(Vec)
	switch r.Size() {
	case 64:
		return v.AsY()
	case 32:
		return v.AsX()
	}
	panic("asmgen: no half of an xmm")
}

func (g *gen) pd() bool { return g.size == 8 }

// The arithmetic, in Go assembler operand order: op(x, y, z) sets z = y op x.
func (g *gen) add(x, y, z Op) { g.pick(VADDPD, VADDPS, x, y, z) }
func (g *gen) sub(x, y, z Op) { g.pick(VSUBPD, VSUBPS, x, y, z) }
func (g *gen) mul(x, y, z Op) { g.pick(VMULPD, VMULPS, x, y, z) }
func (g *gen) div(x, y, z Op) { g.pick(VDIVPD, VDIVPS, x, y, z) }
func (g *gen) min(x, y, z Op) { g.pick(VMINPD, VMINPS, x, y, z) }

func (g *gen) pick(pd, ps func(...Op), ops ...Op) {
	if g.pd() {
		pd(ops...)
	} else {
		ps(ops...)
	}
}

// or and xor are bitwise; on AVX-512 they use the AVX512F integer forms,
// which exist for every register (VORPD zmm needs AVX512DQ, and a VEX
// VORPD cannot reach registers 16 to 31).
func (g *gen) or(x, y, z Op) {
	if g.avx512 {
		VPORQ(x, y, z)
	} else {
		VORPD(x, y, z)
	}
}

func (g *gen) xor(x, y, z Op) {
	if g.avx512 {
		VPXORQ(x, y, z)
	} else {
		VXORPD(x, y, z)
	}
}

func (g *gen) zero(r VecVirtual) { g.xor(r, r, r) }

// blend sets z = mask ? x : y (AVX2 only: the mask is a vector).
func (g *gen) blend(k mask, x, y, z Op) {
	if g.pd() {
		VBLENDVPD(k.r, x, y, z)
	} else {
		VBLENDVPS(k.r, x, y, z)
	}
}

// load, store and storeNT move a whole vector; storeNT is a non-temporal
// store and needs an aligned address.
func (g *gen) load(m Op, r VecVirtual) { g.pick(VMOVUPD, VMOVUPS, m, r) }
func (g *gen) store(r VecVirtual, m Mem) {
	g.pick(VMOVUPD, VMOVUPS, r, m)
}
func (g *gen) storeNT(r VecVirtual, m Mem) {
	if g.pd() {
		VMOVNTPD(r, m)
	} else {
		VMOVNTPS(r, m)
	}
}

// mask is the tail mask of a count of leading lanes: an opmask register on
// AVX-512, a vector on AVX2.
type mask struct{ r Register }

// tailMask returns the mask of the first n lanes, 0 < n < lanes.
func (g *gen) tailMask(n Register) mask {
	if g.avx512 {
		t := GP64()
		MOVQ(I32(-1), t)
		BZHIQ(n, t, t)
		k := K()
		KMOVW(t.As32(), k)
		return mask{k}
	}
	base, idx := GP64(), GP64()
	LEAQ(g.maskTable, base)
	MOVQ(U32(g.lanes()), idx)
	SUBQ(n, idx)
	m := YMM()
	VMOVDQU(Mem{Base: base, Index: idx, Scale: uint8(g.size)}, m)
	return mask{m}
}

// loadMasked loads the masked lanes and zeroes the others; the memory of
// the other lanes is not touched (no fault past the end of a slice).
func (g *gen) loadMasked(m Mem, k mask, r VecVirtual) {
	switch {
	case g.avx512 && g.pd():
		VMOVUPD_Z(m, k.r, r)
	case g.avx512:
		VMOVUPS_Z(m, k.r, r)
	case g.pd():
		VMASKMOVPD(m, k.r, r)
	default:
		VMASKMOVPS(m, k.r, r)
	}
}

// storeMasked stores the masked lanes only.
func (g *gen) storeMasked(r VecVirtual, k mask, m Mem) {
	switch {
	case g.avx512 && g.pd():
		VMOVUPD(r, k.r, m)
	case g.avx512:
		VMOVUPS(r, k.r, m)
	case g.pd():
		VMASKMOVPD(r, k.r, m)
	default:
		VMASKMOVPS(r, k.r, m)
	}
}

// broadcast fills a vector with a scalar held in the low lane of x.
func (g *gen) broadcast(x VecVirtual) VecVirtual {
	v := g.vec()
	g.pick(VBROADCASTSD, VBROADCASTSS, x, v)
	return v
}

// param loads a scalar parameter and broadcasts it.
func (g *gen) param(name string) VecVirtual {
	return g.broadcast(g.scalar(name))
}

// constant returns a vector with every lane set to the given bits.
func (g *gen) constant(bits uint64) VecVirtual {
	x := XMM()
	if g.pd() {
		t := GP64()
		MOVQ(U64(bits), t)
		VMOVQ(t, x)
	} else {
		t := GP32()
		MOVL(U32(uint32(bits)), t)
		VMOVD(t, x)
	}
	return g.broadcast(x)
}

// reg returns op in a register, loading it if it is in memory.
func (g *gen) reg(op Op) VecVirtual {
	if r, ok := op.(VecVirtual); ok {
		return r
	}
	r := g.vec()
	g.load(op, r)
	return r
}
