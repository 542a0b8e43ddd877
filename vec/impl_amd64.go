//go:build amd64 && !purego

package vec

import "golang.org/x/sys/cpu"

// The assembly in vec_amd64.s comes in two sets: AVX-512 (needs AVX512F and
// AVX512VL, and BMI2 for the tail masks) and AVX2. init picks the best the
// CPU and the operating system support (x/sys/cpu checks that the OS saves
// the zmm and ymm registers); other CPUs run the pure-Go kernels.
func init() { useImpl(bestImpl()) }

func bestImpl() string {
	switch {
	case cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasBMI2:
		return "avx512"
	case cpu.X86.HasAVX2:
		return "avx2"
	}
	return "go"
}

var implName string

// impls lists the implementations this machine can run, best first.
func impls() []string {
	switch bestImpl() {
	case "avx512":
		return []string{"avx512", "avx2", "go"}
	case "avx2":
		return []string{"avx2", "go"}
	}
	return []string{"go"}
}

// useImpl switches every operation to the named implementation: the
// internal switch the tests use to run all three.
func useImpl(name string) {
	switch name {
	case "avx512":
		k64 = kernels[float64]{
			fill: fillF64AVX512, copy: copyF64AVX512, scale: scaleF64AVX512,
			add: addF64AVX512, sub: subF64AVX512, mul: mulF64AVX512, div: divF64AVX512,
			addScaled: addScaledF64AVX512, sum: sumF64AVX512, dot: dotF64AVX512,
			min: minF64AVX512, max: maxF64AVX512,
			jacobiRow: jacobiRowF64AVX512, diffuseRow: diffuseRowF64AVX512,
			logistic: logisticF64AVX512,
		}
		k32 = kernels[float32]{
			fill: fillF32AVX512, copy: copyF32AVX512, scale: scaleF32AVX512,
			add: addF32AVX512, sub: subF32AVX512, mul: mulF32AVX512, div: divF32AVX512,
			addScaled: addScaledF32AVX512, sum: sumF32AVX512, dot: dotF32AVX512,
			min: minF32AVX512, max: maxF32AVX512,
			jacobiRow: jacobiRowF32AVX512, diffuseRow: diffuseRowF32AVX512,
			logistic: logisticF32AVX512,
		}
	case "avx2":
		k64 = kernels[float64]{
			fill: fillF64AVX2, copy: copyF64AVX2, scale: scaleF64AVX2,
			add: addF64AVX2, sub: subF64AVX2, mul: mulF64AVX2, div: divF64AVX2,
			addScaled: addScaledF64AVX2, sum: sumF64AVX2, dot: dotF64AVX2,
			min: minF64AVX2, max: maxF64AVX2,
			jacobiRow: jacobiRowF64AVX2, diffuseRow: diffuseRowF64AVX2,
			logistic: logisticF64AVX2,
		}
		k32 = kernels[float32]{
			fill: fillF32AVX2, copy: copyF32AVX2, scale: scaleF32AVX2,
			add: addF32AVX2, sub: subF32AVX2, mul: mulF32AVX2, div: divF32AVX2,
			addScaled: addScaledF32AVX2, sum: sumF32AVX2, dot: dotF32AVX2,
			min: minF32AVX2, max: maxF32AVX2,
			jacobiRow: jacobiRowF32AVX2, diffuseRow: diffuseRowF32AVX2,
			logistic: logisticF32AVX2,
		}
	default:
		name = "go"
		k64, k32 = goKernels[float64](), goKernels[float32]()
	}
	implName = name
}
