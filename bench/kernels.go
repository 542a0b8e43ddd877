package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
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
// wrong answer (for the tests of verification).
//
// Gen numbers the instance the arrays belong to. An anonymous array is
// referenced by its /proc/PID/fd/N path, and a new array may get the
// descriptor number of one closed before it: without Gen, the arguments of
// a new instance could encode to the same bytes as the last job's, and the
// engine would let its workers keep the old, decoded arguments, which
// reference the old array (see newGen).
type (
	unaryArgs struct {
		Dst, X *array.Array[float64]
		S      float64
		Fault  bool
		Gen    uint64
	}
	binaryArgs struct {
		Dst, X, Y *array.Array[float64]
		S         float64
		Fault     bool
		Gen       uint64
	}
	reduceArgs struct {
		X, Y  *array.Array[float64] // Y unused by sum
		Fault bool
		Gen   uint64
	}
	stencilArgs struct {
		Dst, Src *array.Array[float64]
		N        int
		Fault    bool
		Gen      uint64
	}
	logisticArgs struct {
		Dst, X *array.Array[float64]
		R      float64
		Steps  int
		Fault  bool
		Gen    uint64
	}
	mandelArgs struct {
		Dst     *array.Array[int32]
		N, Iter int
		Fault   bool
		Gen     uint64
	}
	nbodyArgs struct {
		Out, In *array.Array[float64]
		N       int
		Dt, Eps float64
		Fault   bool
		Gen     uint64
	}
	emptyArgs struct{ Fault bool }
)

// gens counts instances for Gen.
var gens atomic.Uint64

// newGen returns a Gen no earlier instance of this process had.
func newGen() uint64 { return gens.Add(1) }

// flipLast flips the last bit of *p: the smallest wrong answer there is.
func flipLast(p *float64) { *p = math.Float64frombits(math.Float64bits(*p) ^ 1) }

// The registered kernels: package-level initializers run at package
// initialization, before engine.Main, so worker processes have them too.
var (
	copyLoop = newLoop("copy", func(a unaryArgs, lo, hi int) {
		d := a.Dst.Data()[lo:hi]
		Copy(d, a.X.Data()[lo:hi])
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
	scaleLoop = newLoop("scale", func(a unaryArgs, lo, hi int) {
		d := a.Dst.Data()[lo:hi]
		Scale(d, a.S, a.X.Data()[lo:hi])
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
	addLoop = newLoop("add", func(a binaryArgs, lo, hi int) {
		d := a.Dst.Data()[lo:hi]
		Add(d, a.X.Data()[lo:hi], a.Y.Data()[lo:hi])
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
	triadLoop = newLoop("triad", func(a binaryArgs, lo, hi int) {
		d := a.Dst.Data()[lo:hi]
		Triad(d, a.X.Data()[lo:hi], a.S, a.Y.Data()[lo:hi])
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
	sumReduce = newReduction("sum", func(a reduceArgs, lo, hi int) float64 {
		s := SumRange(a.X.Data(), lo, hi)
		if a.Fault && lo == 0 {
			s++
		}
		return s
	})
	dotReduce = newReduction("dot", func(a reduceArgs, lo, hi int) float64 {
		s := DotRange(a.X.Data(), a.Y.Data(), lo, hi)
		if a.Fault && lo == 0 {
			s++
		}
		return s
	})
	stencilLoop = newLoop("stencil", func(a stencilArgs, lo, hi int) {
		d, s := a.Dst.Data(), a.Src.Data()
		StencilRows(d, s, a.N, lo, hi)
		if a.Fault && lo == 0 && hi > 0 {
			d[0] = math.Nextafter(s[0], math.Inf(1)) // one ulp more every sweep
		}
	})
	logisticLoop = newLoop("logistic", func(a logisticArgs, lo, hi int) {
		d := a.Dst.Data()[lo:hi]
		Logistic(d, a.X.Data()[lo:hi], a.R, a.Steps)
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
	mandelLoop = newLoop("mandelbrot", func(a mandelArgs, lo, hi int) {
		d := a.Dst.Data()
		MandelbrotRows(d, a.N, a.Iter, lo, hi)
		if a.Fault && lo == 0 && hi > 0 {
			d[0]++
		}
	})
	nbodyLoop = newLoop("nbody", func(a nbodyArgs, lo, hi int) {
		d := a.Out.Data()
		NBodyStep(d, a.In.Data(), a.N, a.Dt, a.Eps, lo, hi)
		if a.Fault && lo == 0 && hi > 0 {
			flipLast(&d[0])
		}
	})
)

// errEmptyFault is what the empty kernel returns when told to fail.
var errEmptyFault = errors.New("bench: injected fault")

// emptyKernel is registered by hand: its only possible wrong answer is an
// error, so its body returns one.
var emptyKernel = engine.Register(KernelPrefix+"empty", func(_ *engine.Ctx, a emptyArgs, lo, hi int) error {
	return emptyBody(a, lo, hi)
}, engine.Idempotent())

func emptyBody(a emptyArgs, lo, hi int) error {
	if a.Fault && lo == 0 {
		return errEmptyFault
	}
	return nil
}

// suite lists the kernels in the order shmbench runs and prints them.
var suite = []Kernel{
	{Name: "copy", Summary: "dst[i] = x[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(16), setup: setupStream(1)},
	{Name: "scale", Summary: "dst[i] = s·x[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(16), setup: setupStream(2)},
	{Name: "add", Summary: "dst[i] = x[i] + y[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(24), setup: setupStream(3)},
	{Name: "triad", Summary: "dst[i] = x[i] + s·y[i]", Class: Bandwidth, NMeaning: "elements",
		DefaultN: streamDefaultN, Schedule: "static", bytes: perElem(24), setup: setupStream(4)},
	{Name: "sum", Summary: "Σ x[i], deterministic chunks", Class: Bandwidth, NMeaning: "elements",
		DefaultN: reduceDefaultN, Schedule: "deterministic", Reduce: true, bytes: perElem(8), setup: setupReduce(false)},
	{Name: "dot", Summary: "Σ x[i]·y[i], deterministic chunks", Class: Bandwidth, NMeaning: "elements",
		DefaultN: reduceDefaultN, Schedule: "deterministic", Reduce: true, bytes: perElem(16), setup: setupReduce(true)},
	{Name: "stencil", Summary: fmt.Sprintf("%d Jacobi sweeps, 5-point, n×n grid", StencilSweeps), Class: Bandwidth,
		NMeaning: "rows of an n×n grid", DefaultN: stencilDefaultN, Schedule: "static",
		bytes: func(n int) float64 { return 16 * float64(n) * float64(n) * StencilSweeps }, setup: setupStencil},
	{Name: "logistic", Summary: fmt.Sprintf("%d logistic-map steps per element", LogisticSteps), Class: Compute,
		NMeaning: "elements", DefaultN: logisticDefault, Schedule: "static", setup: setupLogistic},
	{Name: "mandelbrot", Summary: "escape counts, n×n pixels, irregular rows", Class: Compute,
		NMeaning: "rows of an n×n image", DefaultN: mandelDefaultN, Schedule: "dynamic", setup: setupMandel},
	{Name: "nbody", Summary: "one O(n²) gravity step", Class: Compute, NMeaning: "bodies",
		DefaultN: nbodyDefaultN, Schedule: "static", setup: setupNBody},
	{Name: "empty", Summary: "no work: the cost of one For call", Class: Overhead,
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
