package engine

import (
	"context"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/codec"
	"github.com/shmpar/shmpar/engine/internal/registry"
	"github.com/shmpar/shmpar/shm"
)

// Number is the constraint for reduction results: shm.Number, the module's
// one numeric constraint (a pointer-free scalar of at most 8 bytes, so a
// chunk's partial result fits one word of shared memory).
type Number = shm.Number

// MaxKernelName is the longest kernel name Register accepts, in bytes.
const MaxKernelName = 200

// The registry enforces the same bound (a negative difference does not
// compile).
const _ = uint(MaxKernelName-registry.MaxName) + uint(registry.MaxName-MaxKernelName)

type kernelConfig struct {
	idempotent bool
	stallLimit time.Duration
}

// Idempotent declares that running the kernel over a chunk twice has the
// same effect as running it once (it writes each output element from inputs
// it does not itself modify, and a reduce kernel returns the same partial).
// When a worker process dies while it runs a chunk of an idempotent kernel,
// the chunk is run again and the job completes; for other kernels the job
// completes every other chunk and fails with ErrWorkerDied naming the
// chunk.
func Idempotent() KernelOption { return kernelOption(func(c *kernelConfig) { c.idempotent = true }) }

// kernel is one registered kernel. It is immutable after registration.
type kernel struct {
	name       string
	args       *codec.Type
	reduce     bool
	idempotent bool
	stallLimit time.Duration // 0: the team's

	// call runs the kernel over [lo, hi) with args (whose dynamic type is
	// args.T). A reduce kernel returns its partial result as raw bits
	// (see toBits); a For kernel returns 0.
	call func(c *Ctx, args any, lo, hi int) (uint64, error)

	// encErr is non-nil when the argument type can never cross to a worker
	// process.
	encErr error
}

// kernels are the registered kernels: worker processes find a job's kernel
// here by its name.
var kernels = registry.New[*kernel]("engine: kernel")

func lookup(name string) *kernel {
	k, _ := kernels.Lookup(name)
	return k
}

func newKernel[A any](name string, opts []KernelOption) *kernel {
	var cfg kernelConfig
	for _, o := range opts {
		if o != nil {
			o.applyKernel(&cfg)
		}
	}
	k := &kernel{name: name, args: codec.Of(reflect.TypeFor[A]()), idempotent: cfg.idempotent, stallLimit: cfg.stallLimit}
	if k.args.Err != nil {
		k.encErr = fmt.Errorf("arguments: %w: %w", ErrArgsEncode, k.args.Err)
	}
	return k
}

// Kernel is a kernel registered with Register: a function over index ranges
// with arguments of type A. Run it with For. A *Kernel is safe for
// concurrent use.
type Kernel[A any] struct{ k *kernel }

// ReduceKernel is a reduction kernel registered with RegisterReduce: a
// function over index ranges with arguments of type A that returns a
// partial result of type R per chunk. Run it with Reduce or Partials. It is
// safe for concurrent use.
type ReduceKernel[A any, R Number] struct{ k *kernel }

// Register registers a kernel under name and returns its handle, through
// which programs run it. Call it from an init function or a package-level
// var initializer, so that worker processes — which run the same binary but
// never return from Main — have it too:
//
//	var scale = engine.Register("scale", func(c *engine.Ctx, a ScaleArgs, lo, hi int) error { ... })
//
// fn runs over the half-open index range [lo, hi) of one chunk; it is called
// many times per job, in several processes at once, with a copy of args.
// The name is what crosses to the workers: it must be unique in the
// program. Register panics if name is empty, longer than MaxKernelName or
// already registered, or if fn is nil.
func Register[A any](name string, fn func(c *Ctx, args A, lo, hi int) error, opts ...KernelOption) *Kernel[A] {
	if fn == nil {
		panic(fmt.Sprintf("engine: Register %q: nil kernel function", name))
	}
	k := newKernel[A](name, opts)
	k.call = func(c *Ctx, args any, lo, hi int) (uint64, error) {
		a, _ := args.(A) // nil for an interface type A holding nil
		return 0, fn(c, a, lo, hi)
	}
	kernels.Add(name, k)
	return &Kernel[A]{k}
}

// RegisterReduce registers a reduction kernel under name and returns its
// handle: fn returns the partial result of its chunk [lo, hi), and Reduce
// combines the partials with an Op. The same rules as for Register apply.
func RegisterReduce[A any, R Number](name string, fn func(c *Ctx, args A, lo, hi int) (R, error), opts ...KernelOption) *ReduceKernel[A, R] {
	if fn == nil {
		panic(fmt.Sprintf("engine: RegisterReduce %q: nil kernel function", name))
	}
	k := newKernel[A](name, opts)
	k.reduce = true
	k.call = func(c *Ctx, args any, lo, hi int) (uint64, error) {
		a, _ := args.(A)
		r, err := fn(c, a, lo, hi)
		return toBits(r), err
	}
	kernels.Add(name, k)
	return &ReduceKernel[A, R]{k}
}

// Name returns the name the kernel was registered under.
func (k *Kernel[A]) Name() string { return k.k.name }

// Name returns the name the kernel was registered under.
func (k *ReduceKernel[A, R]) Name() string { return k.k.name }

// For runs the kernel over [0, n) (or the Range option's slice) on team t,
// split by the schedule in opts (Static by default), and returns when every
// chunk has run. The first chunk to fail stops the job (no new chunks are
// claimed) and For returns it as a *WorkerError. A worker process that dies
// does not stop the job: see the package doc's Failures for what is re-run
// and how lost chunks are named. When ctx ends, no new
// chunks are claimed and For returns ctx.Err() once running chunks return
// (or after CancelGrace, killing the worker processes still busy).
//
// For a process team args are encoded with encoding/gob once per job — not
// at all when they are equal to the last job's — so shared arrays travel as
// their names, and anything gob cannot encode is an error (ErrArgsEncode)
// before anything runs.
func (k *Kernel[A]) For(ctx context.Context, t *Team, n int, args A, opts ...Option) error {
	if k == nil || k.k == nil {
		return errNoHandle
	}
	_, _, err := t.do(ctx, k.k, n, args, opts)
	return err
}

// errNoHandle is returned by the methods of a nil or zero kernel handle.
var errNoHandle = fmt.Errorf("%w: a nil or zero kernel handle (use the value Register returns)", ErrUnknownKernel)

// toBits stores a Number in the low bytes of a uint64 (little-endian
// memory order), the form partial results take in shared memory.
func toBits[R Number](r R) uint64 {
	var u uint64
	*(*R)(unsafe.Pointer(&u)) = r
	return u
}

// fromBits is the inverse of toBits.
func fromBits[R Number](u uint64) R {
	return *(*R)(unsafe.Pointer(&u))
}
