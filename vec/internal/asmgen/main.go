// Command asmgen generates vec's amd64 assembly and its Go stubs with avo.
//
// It is its own module, so that avo stays out of shmpar's build and go.mod.
// vec's gen.go runs it:
//
//	go run -C internal/asmgen . -out ../../vec_amd64.s -stubs ../../stubs_amd64.go -pkg vec
//
// and `go generate ./vec` reproduces both files byte for byte.
//
// Every routine exists in four forms: float64 and float32, each for AVX-512
// (zmm registers, opmask tails; AVX512F+VL and BMI2) and for AVX2 (ymm
// registers, VMASKMOV tails from a mask table). Each computes exactly what
// the pure-Go twin in vec/generic.go computes, bit for bit: the same
// operations in the same order per element, no fused multiply-add, and for
// Sum and Dot the same lanes combined by the same tree (see reduce.go).
package main

import (
	. "github.com/mmcloughlin/avo/build"
)

func main() {
	ConstraintExpr("amd64,!purego")
	tables := newMaskTables()
	for _, e := range []elem{f64, f32} {
		for _, a := range []isa{avx512, avx2} {
			g := &gen{isa: a, elem: e, maskTable: tables[e.size]}
			g.elementwiseOps()
			g.rowOps()
			g.reductions()
			g.logistic()
		}
	}
	Generate()
}
