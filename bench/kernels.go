package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/vec"
)

// Class says what limits a kernel, and so which figures apply to it.
type Class uint8

const (
	// Bandwidth kernels move a documented number of bytes per element;
	// their rows report GB/s.
	Bandwidth Class = iota
	// Compute kernels do many operations per byte; GB/s does not apply.
	Compute
	// Overhead is the empty kernel: what one For call costs the engine.
	Overhead
)

// String returns "bandwidth", "compute" or "overhead".
func (c Class) String() string {
	switch c {
	case Bandwidth:
		return "bandwidth"
	case Compute:
		return "compute"
	case Overhead:
		return "overhead"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Kernel describes one kernel of the suite.
type Kernel struct {
	Name     string // "triad"
	Summary  string // one line: what it computes
	Class    Class
	NMeaning string // what n counts: "elements", "rows of an n×n grid", ...
	DefaultN int    // the size shmbench uses when -n is not given
	// Schedule is the kernel's default schedule ("static", "dynamic" or
	// "deterministic" for the reductions).
	Schedule string
	// Reduce is true for the reductions (sum, dot).
	Reduce bool
	// Impls are the kernel's implementations (ImplGo, ImplVec, ImplSIMD),
	// in the order their rows are printed. A kernel with one (the scalar
	// kernels: mandelbrot, nbody, empty) has ImplGo only.
	Impls []string

	bytes func(n int) float64 // bytes moved per repetition; nil: not a bandwidth kernel
	setup func(n int, fault bool) (instance, error)
}

// BytesPerRep returns the bytes a repetition of the kernel moves at size n,
// the numerator of its GB/s, and false for kernels that are not bandwidth
// bound. The counts are STREAM's: bytes read plus bytes written, without
// write-allocate traffic.
func (k Kernel) BytesPerRep(n int) (float64, bool) {
	if k.bytes == nil {
		return 0, false
	}
	return k.bytes(n), true
}

// instance is a kernel set up at one size: its arrays, filled with inputs,
// and its serial reference.
type instance interface {
	// run runs one repetition on x: the part that is timed.
	run(ctx context.Context, x exec) error
	// calls is the number of For or Reduce calls in one repetition that
	// the time is divided by (the empty kernel times many); 1 otherwise.
	calls() int
	// poison overwrites the outputs so that a run that skips elements
	// cannot pass verify on an earlier run's values.
	poison()
	// verify checks the outputs of the last run against the reference.
	verify() error
	// close releases the arrays.
	close() error
}

// Constants of the kernels (fixed so that rows of different runs compare).
const (
	StreamScalar    = 3.0  // s in scale and triad
	StencilSweeps   = 10   // Jacobi sweeps per repetition of stencil
	LogisticSteps   = 200  // logistic-map steps per element
	LogisticR       = 3.9  // the map's parameter (chaotic regime)
	MandelbrotIter  = 1000 // iteration cap per pixel
	NBodyDt         = 1e-3 // time step of nbody
	NBodyEps2       = 1e-4 // softening² of nbody
	EmptyCalls      = 1000 // For calls per repetition of empty
	emptyDefaultN   = 1024 // loop length of each empty For
	streamDefaultN  = 1 << 24
	reduceDefaultN  = 1 << 24
	stencilDefaultN = 2048
	logisticDefault = 1 << 17
	mandelDefaultN  = 256
	nbodyDefaultN   = 2048
)

// ErrMismatch is returned by verification when a parallel result differs
// from the serial reference.
var ErrMismatch = errors.New("result differs from the serial reference")

// ErrUnknownKernel is returned when a kernel name is not in the suite.
var ErrUnknownKernel = errors.New("unknown kernel")

// ErrBadSize is returned when n is too small or too large for a kernel.
var ErrBadSize = errors.New("invalid size")

// Arguments of the kernels. They cross to worker processes with gob: the
// arrays as references, Fault as a flag that makes the kernel compute a
// wrong answer (for the tests of verification) in the chunk that starts at
// FaultAt: index 0, or in a run across ranks the first index of the last
// rank's part, so that the tests see that rank's own check catch it.
//
// Gen numbers the instance the arrays belong to. An anonymous array is
// referenced by its /proc/PID/fd/N path, and a new array may get the
// descriptor number of one closed before it: without Gen, the arguments of
// a new instance could encode to the same bytes as the last job's, and the
// engine would let its workers keep the old, decoded arguments, which
// reference the old array (see newGen).
type (
	unaryArgs struct {
		Dst, X  *array.Array[float64]
		S       float64
		Fault   bool
		FaultAt int
		Gen     uint64
	}
	binaryArgs struct {
		Dst, X, Y *array.Array[float64]
		S         float64
		Fault     bool
		FaultAt   int
		Gen       uint64
	}
	reduceArgs struct {
		X, Y    *array.Array[float64] // Y unused by sum
		Fault   bool
		FaultAt int
		Gen     uint64
	}
	stencilArgs struct {
		Dst, Src *array.Array[float64]
		N        int
		Fault    bool
		FaultAt  int
		Gen      uint64
	}
	logisticArgs struct {
		Dst, X  *array.Array[float64]
		R       float64
		Steps   int
		Fault   bool
		FaultAt int
		Gen     uint64
	}
	mandelArgs struct {
		Dst     *array.Array[int32]
		N, Iter int
		Fault   bool
		FaultAt int
		Gen     uint64
	}
	nbodyArgs struct {
		Out, In *array.Array[float64]
		N       int
		Dt, Eps float64
		Fault   bool
		FaultAt int
		Gen     uint64
	}
	emptyArgs struct {
		Fault   bool
		FaultAt int
	}
)

// gens counts instances for Gen.
var gens atomic.Uint64

// newGen returns a Gen no earlier instance of this process had.
func newGen() uint64 { return gens.Add(1) }

// flipLast flips the last bit of *p: the smallest wrong answer there is.
func flipLast(p *float64) { *p = math.Float64frombits(math.Float64bits(*p) ^ 1) }

// Names of the implementations of a kernel (Kernel.Impls, Config.Impls).
const (
	// ImplGo is the plain Go loop of the kernel's reference: what the Go
	// compiler makes of it (scalar code, no streaming stores).
	ImplGo = "go"
	// ImplVec calls package vec on the chunk: AVX-512 or AVX2 assembly
	// (vec.Impl says which), with streaming stores for large destinations.
	ImplVec = "vec"
	// ImplSIMD is logistic written in Go with simd/archsimd
	// (vec.LogisticSIMD); it exists only in programs built with
	// GOEXPERIMENT=simd on amd64.
	ImplSIMD = "simd"
)

// elementArgs are the arguments of an element-wise kernel: the output
// array and the fault flag.
type elementArgs interface {
	out() []float64
	faulty() bool
	faultAt() int
}

func (a unaryArgs) out() []float64    { return a.Dst.Data() }
func (a unaryArgs) faulty() bool      { return a.Fault }
func (a unaryArgs) faultAt() int      { return a.FaultAt }
func (a binaryArgs) out() []float64   { return a.Dst.Data() }
func (a binaryArgs) faulty() bool     { return a.Fault }
func (a binaryArgs) faultAt() int     { return a.FaultAt }
func (a logisticArgs) out() []float64 { return a.Dst.Data() }
func (a logisticArgs) faulty() bool   { return a.Fault }
func (a logisticArgs) faultAt() int   { return a.FaultAt }

// elementLoop registers an element-wise kernel whose body writes d, the
// output over [lo, hi); told to fail, it flips a bit of the first element
// of the chunk that starts at FaultAt.
func elementLoop[A elementArgs](name string, body func(a A, d []float64, lo, hi int)) loop[A] {
	return newLoop(name, func(a A, lo, hi int) {
		d := a.out()[lo:hi]
		body(a, d, lo, hi)
		if a.faulty() && lo == a.faultAt() && hi > lo {
			flipLast(&d[0])
		}
	})
}

// impls holds the implementations of one kernel by name (ImplGo, ImplVec,
// ImplSIMD), each registered under KernelPrefix+kernel+"/"+impl.
type impls[L any] map[string]L

// The registered kernels: package-level initializers run at package
// initialization, before engine.Main, so worker processes have them too.
// The go and vec implementations of a kernel compute the same function;
// they differ only in the code that runs on the chunk.
var (
	copyLoops = impls[loop[unaryArgs]]{
		ImplGo: elementLoop("copy/go", func(a unaryArgs, d []float64, lo, hi int) {
			Copy(d, a.X.Data()[lo:hi])
		}),
		ImplVec: elementLoop("copy/vec", func(a unaryArgs, d []float64, lo, hi int) {
			vec.Copy(d, a.X.Data()[lo:hi])
		}),
	}
	scaleLoops = impls[loop[unaryArgs]]{
		ImplGo: elementLoop("scale/go", func(a unaryArgs, d []float64, lo, hi int) {
			Scale(d, a.S, a.X.Data()[lo:hi])
		}),
		ImplVec: elementLoop("scale/vec", func(a unaryArgs, d []float64, lo, hi int) {
			vec.Scale(d, a.S, a.X.Data()[lo:hi])
		}),
	}
	addLoops = impls[loop[binaryArgs]]{
		ImplGo: elementLoop("add/go", func(a binaryArgs, d []float64, lo, hi int) {
			Add(d, a.X.Data()[lo:hi], a.Y.Data()[lo:hi])
		}),
		ImplVec: elementLoop("add/vec", func(a binaryArgs, d []float64, lo, hi int) {
			vec.Add(d, a.X.Data()[lo:hi], a.Y.Data()[lo:hi])
		}),
	}
	triadLoops = impls[loop[binaryArgs]]{
		ImplGo: elementLoop("triad/go", func(a binaryArgs, d []float64, lo, hi int) {
			Triad(d, a.X.Data()[lo:hi], a.S, a.Y.Data()[lo:hi])
		}),
		ImplVec: elementLoop("triad/vec", func(a binaryArgs, d []float64, lo, hi int) {
			vec.AddScaled(d, a.X.Data()[lo:hi], a.S, a.Y.Data()[lo:hi])
		}),
	}
	sumReductions = impls[reduction[reduceArgs]]{
		ImplGo: newReduction("sum/go", func(a reduceArgs, lo, hi int) float64 {
			return fault(a, lo, SumRange(a.X.Data(), lo, hi))
		}),
		ImplVec: newReduction("sum/vec", func(a reduceArgs, lo, hi int) float64 {
			return fault(a, lo, vec.Sum(a.X.Data()[lo:hi]))
		}),
	}
	dotReductions = impls[reduction[reduceArgs]]{
		ImplGo: newReduction("dot/go", func(a reduceArgs, lo, hi int) float64 {
			return fault(a, lo, DotRange(a.X.Data(), a.Y.Data(), lo, hi))
		}),
		ImplVec: newReduction("dot/vec", func(a reduceArgs, lo, hi int) float64 {
			return fault(a, lo, vec.Dot(a.X.Data()[lo:hi], a.Y.Data()[lo:hi]))
		}),
	}
	stencilLoops = impls[loop[stencilArgs]]{
		ImplGo:  stencilLoop("stencil/go", StencilRows),
		ImplVec: stencilLoop("stencil/vec", jacobiRows),
	}
	logisticLoops = impls[loop[logisticArgs]]{
		ImplGo: elementLoop("logistic/go", func(a logisticArgs, d []float64, lo, hi int) {
			Logistic(d, a.X.Data()[lo:hi], a.R, a.Steps)
		}),
		ImplVec: elementLoop("logistic/vec", func(a logisticArgs, d []float64, lo, hi int) {
			vec.Logistic(d, a.X.Data()[lo:hi], a.R, a.Steps)
		}),
	}
	mandelLoop = newLoop("mandelbrot", func(a mandelArgs, lo, hi int) {
		d := a.Dst.Data()
		MandelbrotRows(d, a.N, a.Iter, lo, hi)
		if a.Fault && lo == a.FaultAt && hi > lo {
			d[lo*a.N]++
		}
	})
	nbodyLoop = newLoop("nbody", func(a nbodyArgs, lo, hi int) {
		d := a.Out.Data()
		NBodyStep(d, a.In.Data(), a.N, a.Dt, a.Eps, lo, hi)
		if a.Fault && lo == a.FaultAt && hi > lo {
			flipLast(&d[lo])
		}
	})
)

// jacobiRows is StencilRows with vec: a vec.JacobiRow per inner row, which
// gives the reference loop's bits.
func jacobiRows(dst, src []float64, n, lo, hi int) {
	for i := lo; i < hi; i++ {
		row, mid := dst[i*n:(i+1)*n], src[i*n:(i+1)*n]
		if i == 0 || i == n-1 {
			vec.Copy(row, mid)
			continue
		}
		vec.JacobiRow(row, src[(i-1)*n:i*n], mid, src[(i+1)*n:(i+2)*n])
	}
}

// fault returns s, or s+1 in the chunk at FaultAt of a reduction told to
// fail.
func fault(a reduceArgs, lo int, s float64) float64 {
	if a.Fault && lo == a.FaultAt {
		s++
	}
	return s
}

// stencilLoop registers a stencil sweep over rows [lo, hi); told to fail,
// it makes the first element of the row at FaultAt one ulp more than it
// should be every sweep.
func stencilLoop(name string, rows func(dst, src []float64, n, lo, hi int)) loop[stencilArgs] {
	return newLoop(name, func(a stencilArgs, lo, hi int) {
		d, s := a.Dst.Data(), a.Src.Data()
		rows(d, s, a.N, lo, hi)
		if a.Fault && lo == a.FaultAt && hi > lo {
			d[lo*a.N] = math.Nextafter(s[lo*a.N], math.Inf(1))
		}
	})
}

// errEmptyFault is what the empty kernel returns when told to fail.
var errEmptyFault = errors.New("bench: injected fault")

// emptyKernel is registered by hand: its only possible wrong answer is an
// error, so its body returns one.
var emptyKernel = engine.Register(KernelPrefix+"empty", func(_ *engine.Ctx, a emptyArgs, lo, hi int) error {
	return emptyBody(a, lo, hi)
}, engine.Idempotent())

func emptyBody(a emptyArgs, lo, hi int) error {
	if a.Fault && lo == a.FaultAt {
		return errEmptyFault
	}
	return nil
}

// suite lists the kernels in the order shmbench runs and prints them.
var suite = []Kernel{
	{Name: "copy", Impls: []string{ImplGo, ImplVec}, Summary: "dst[i] = x[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(16), setup: setupStream(1)},
	{Name: "scale", Impls: []string{ImplGo, ImplVec}, Summary: "dst[i] = s·x[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(16), setup: setupStream(2)},
	{Name: "add", Impls: []string{ImplGo, ImplVec}, Summary: "dst[i] = x[i] + y[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(24), setup: setupStream(3)},
	{Name: "triad", Impls: []string{ImplGo, ImplVec}, Summary: "dst[i] = x[i] + s·y[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(24), setup: setupStream(4)},
	{Name: "sum", Impls: []string{ImplGo, ImplVec}, Summary: "Σ x[i], deterministic chunks", Class: Bandwidth, NMeaning: "elements",
		DefaultN: reduceDefaultN, Schedule: "deterministic", Reduce: true, bytes: perElem(8), setup: setupReduce(false)},
	{Name: "dot", Impls: []string{ImplGo, ImplVec}, Summary: "Σ x[i]·y[i], deterministic chunks", Class: Bandwidth, NMeaning: "elements",
		DefaultN: reduceDefaultN, Schedule: "deterministic", Reduce: true, bytes: perElem(16), setup: setupReduce(true)},
	{Name: "stencil", Impls: []string{ImplGo, ImplVec}, Summary: fmt.Sprintf("%d Jacobi sweeps, 5-point, n×n grid", StencilSweeps), Class: Bandwidth,
		NMeaning: "rows of an n×n grid", DefaultN: stencilDefaultN, Schedule: "static",
		bytes: func(n int) float64 { return 16 * float64(n) * float64(n) * StencilSweeps }, setup: setupStencil},
	{Name: "logistic", Impls: []string{ImplGo, ImplVec}, Summary: fmt.Sprintf("%d logistic-map steps per element", LogisticSteps), Class: Compute,
		NMeaning: "elements", DefaultN: logisticDefault, Schedule: "static", setup: setupLogistic},
	{Name: "mandelbrot", Impls: []string{ImplGo}, Summary: "escape counts, n×n pixels, irregular rows", Class: Compute,
		NMeaning: "rows of an n×n image", DefaultN: mandelDefaultN, Schedule: "dynamic", setup: setupMandel},
	{Name: "nbody", Impls: []string{ImplGo}, Summary: "one O(n²) gravity step", Class: Compute, NMeaning: "bodies",
		DefaultN: nbodyDefaultN, Schedule: "static", setup: setupNBody},
	{Name: "empty", Impls: []string{ImplGo}, Summary: "no work: the cost of one For call", Class: Overhead,
		NMeaning: "loop length of each call", DefaultN: emptyDefaultN, Schedule: "static", setup: setupEmpty},
}

func perElem(b float64) func(int) float64 { return func(n int) float64 { return b * float64(n) } }

// Kernels returns the suite's kernels in their run order.
func Kernels() []Kernel { return append([]Kernel(nil), suite...) }

// Lookup returns the kernel called name.
func Lookup(name string) (Kernel, error) {
	for _, k := range suite {
		if k.Name == name {
			return k, nil
		}
	}
	return Kernel{}, fmt.Errorf("bench: %w %q (the kernels are %s)", ErrUnknownKernel, name, kernelNames())
}

func kernelNames() string {
	s := ""
	for i, k := range suite {
		if i > 0 {
			s += ", "
		}
		s += k.Name
	}
	return s
}
