package engine

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Number is the constraint for reduction results: a pointer-free scalar of
// at most 8 bytes, so a chunk's partial result fits one word of shared
// memory.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// MaxKernelName is the longest kernel name Register accepts, in bytes.
const MaxKernelName = 200

// KernelOption changes how a kernel is registered.
type KernelOption struct {
	idempotent bool
}

// Idempotent declares that running the kernel over a chunk twice has the
// same effect as running it once (it writes each output element from inputs
// it does not itself modify, and a reduce kernel returns the same partial).
// When a worker process dies while it runs a chunk of an idempotent kernel,
// the chunk is run again and the job completes; for other kernels the job
// fails with ErrWorkerDied naming the chunk.
func Idempotent() KernelOption { return KernelOption{idempotent: true} }

// kernel is one registered kernel. It is immutable after registration.
type kernel struct {
	name       string
	argType    reflect.Type
	resType    reflect.Type // nil for a For kernel
	idempotent bool

	// call runs the kernel over [lo, hi) with args (whose dynamic type is
	// argType). A reduce kernel returns its partial result as raw bits
	// (see toBits); a For kernel returns 0.
	call func(c *Ctx, args any, lo, hi int) (uint64, error)

	// zero is the zero value of argType, boxed (used for nil arguments and
	// empty argument types).
	zero any

	// empty reports that argType has size zero: its values carry no
	// information and travel as zero bytes (gob refuses empty structs).
	empty bool

	// stable reports that values of argType may be compared with == and that
	// equal values encode to equal bytes (no pointers but shared-memory
	// handles, no slices, maps or interfaces). Then For reuses the encoded
	// bytes when the arguments did not change.
	stable bool

	// plain reports that argType holds no handles (no custom marshalers, no
	// interfaces): equal encodings mean equal values, so a worker may keep
	// its decoded copy. With a handle, equal bytes may name another
	// segment (a path reused after the first one was closed).
	plain bool

	// encErr is non-nil when values of argType can never cross to a worker
	// process (found by walking the type at registration).
	encErr error
}

var registry struct {
	mu sync.Mutex                         // serializes writers
	m  atomic.Pointer[map[string]*kernel] // copy on write: readers never lock
}

func lookup(name string) *kernel {
	m := registry.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[name]
}

func register(k *kernel) {
	if k.name == "" || len(k.name) > MaxKernelName {
		panic(fmt.Sprintf("engine: kernel name %q: must be 1 to %d bytes", k.name, MaxKernelName))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	old := registry.m.Load()
	m := make(map[string]*kernel)
	if old != nil {
		if _, dup := (*old)[k.name]; dup {
			panic(fmt.Sprintf("engine: kernel %q registered twice", k.name))
		}
		for n, v := range *old {
			m[n] = v
		}
	}
	m[k.name] = k
	registry.m.Store(&m)
}

func newKernel[A any](name string, opts []KernelOption) *kernel {
	at := reflect.TypeFor[A]()
	var zero A
	k := &kernel{
		name:    name,
		argType: at,
		zero:    zero,
		empty:   at.Size() == 0 && at.Kind() != reflect.Interface,
		stable:  stableType(at, nil),
		plain:   plainType(at, nil),
		encErr:  checkEncodable(at),
	}
	if at.Kind() == reflect.Interface {
		k.zero = nil
	}
	for _, o := range opts {
		if o.idempotent {
			k.idempotent = true
		}
	}
	return k
}

// Register registers a kernel under name for For. Call it from an init
// function (or a package-level var initializer) so that worker processes,
// which run the same binary but never return from Main, have it too.
//
// fn runs over the half-open index range [lo, hi) of one chunk; it is called
// many times per job, in several processes at once, with a copy of args.
// Register panics if name is empty, longer than MaxKernelName or already
// registered, or if fn is nil.
func Register[A any](name string, fn func(c *Ctx, args A, lo, hi int) error, opts ...KernelOption) {
	if fn == nil {
		panic(fmt.Sprintf("engine: Register %q: nil kernel function", name))
	}
	k := newKernel[A](name, opts)
	k.call = func(c *Ctx, args any, lo, hi int) (uint64, error) {
		a, _ := args.(A) // nil for an interface type A holding nil
		return 0, fn(c, a, lo, hi)
	}
	register(k)
}

// RegisterReduce registers a reduction kernel under name for Reduce: fn
// returns the partial result of its chunk [lo, hi), and Reduce combines the
// partials with an Op. The same rules as for Register apply.
func RegisterReduce[A any, R Number](name string, fn func(c *Ctx, args A, lo, hi int) (R, error), opts ...KernelOption) {
	if fn == nil {
		panic(fmt.Sprintf("engine: RegisterReduce %q: nil kernel function", name))
	}
	k := newKernel[A](name, opts)
	k.resType = reflect.TypeFor[R]()
	k.call = func(c *Ctx, args any, lo, hi int) (uint64, error) {
		a, _ := args.(A)
		r, err := fn(c, a, lo, hi)
		return toBits(r), err
	}
	register(k)
}

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
