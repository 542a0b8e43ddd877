//go:build goexperiment.simd && amd64

package bench

import (
	"slices"

	"github.com/shmpar/shmpar/vec"
)

// The simd implementation of logistic: vec.LogisticSIMD, the map written in
// Go with simd/archsimd, which exists only in builds with
// GOEXPERIMENT=simd on amd64. It is registered here, at package
// initialization like every kernel of the suite, and added to the
// logistic kernel's implementations, so that shmbench built with the
// experiment shows a logistic/simd row (-impl simd, or -kernel
// logistic/simd). Its results are bitwise the scalar loop's, as vec's.
func init() {
	logisticLoops[ImplSIMD] = elementLoop("logistic/simd", func(a logisticArgs, d []float64, lo, hi int) {
		vec.LogisticSIMD(d, a.X.Data()[lo:hi], a.R, a.Steps)
	})
	for i := range suite {
		if suite[i].Name == "logistic" {
			suite[i].Impls = append(slices.Clip(suite[i].Impls), ImplSIMD)
		}
	}
}
