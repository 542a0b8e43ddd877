package pool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/codec"
	"github.com/shmpar/shmpar/engine/internal/registry"
)

// Initializers: Python's Pool(initializer=f, initargs=…). A function
// registered with RegisterInit runs once in each worker process that
// serves a pool made with the Initializer option: when the pool starts
// (New, On), and in a worker process that replaces one (after a death, a
// stall, MaxTasksPerWorker) before it runs a task of the pool. If it fails
// the pool fails with its error: New or On return it, or the calls running
// and every later call do, and no worker is restarted for it.

// MaxInitArgs bounds the encoded arguments of an initializer, in bytes:
// pass bulk data in a shared array.
const MaxInitArgs = 64 << 10

// initFunc is an initializer registered with RegisterInit. It is immutable
// after registration.
type initFunc struct {
	name string
	args *codec.Type
	run  func(ctx context.Context, args any) error
	err  error // the argument type can never cross to a worker process
}

var inits = registry.New[*initFunc]("pool: initializer")

// Init is an initializer registered with RegisterInit, taking arguments of
// type A. Pass it to a pool with Initializer.
type Init[A any] struct{ f *initFunc }

// RegisterInit registers fn as a pool initializer under name and returns
// its handle (see Initializer). As with Register, call it at package
// initialization: the worker processes run the same program and find it by
// name. fn runs once in each worker process serving a pool made with
// Initializer(handle, args), with the args given there (encoded with gob
// like a task's input; flat types are copied); its context ends when the
// pool closes. It is the place to set up what every task of the process
// uses — attach a shared array, open a file, load a model — in the
// process's globals: they are the worker's own, and the coordinator's
// globals are not seen there (see docs/FROM_PYTHON.md).
//
// RegisterInit panics if name is empty, longer than 200 bytes or already
// registered as an initializer, or if fn is nil.
func RegisterInit[A any](name string, fn func(ctx context.Context, args A) error) *Init[A] {
	if fn == nil {
		panic(fmt.Sprintf("pool: RegisterInit %q: nil function", name))
	}
	t := codec.Of(reflect.TypeFor[A]())
	f := &initFunc{name: name, args: t, run: func(ctx context.Context, a any) error {
		v, _ := a.(A)
		return fn(ctx, v)
	}}
	if t.Err != nil {
		f.err = fmt.Errorf("pool: initializer %q: arguments: %w: %w", name, engine.ErrArgsEncode, t.Err)
	}
	inits.Add(name, f)
	return &Init[A]{f}
}

// Name returns the name the initializer was registered under.
func (i *Init[A]) Name() string { return i.f.name }

// Initializer makes the pool run init with args in each of its worker
// processes before they run its tasks (Python's Pool(initializer=f,
// initargs=args)): in every worker when New or On starts the pool, and in
// each worker process that later replaces one. New and On return an error
// wrapping ErrInit (an *InitError) when it fails in a worker; when it fails
// in a replacement, the calls running and every later call of the pool
// fail with that error. On a goroutine team it runs once, in the calling
// process, when the pool starts.
func Initializer[A any](init *Init[A], args A) Option {
	return func(c *config) {
		c.init, c.initArgs, c.initSet = nil, args, true
		if init != nil {
			c.init = init.f
		}
	}
}

// initSpec is a pool's initializer with its encoded arguments: what crosses
// to the worker processes.
type initSpec struct {
	Name string
	Args []byte
}

// prepareInit checks the pool's initializer and encodes its arguments.
func prepareInit(cfg *config) (*initSpec, error) {
	if !cfg.initSet {
		return nil, nil
	}
	f := cfg.init
	if f == nil {
		return nil, fmt.Errorf("pool: Initializer: a nil *Init (use the value RegisterInit returns)")
	}
	if f.err != nil {
		return nil, f.err
	}
	var buf bytes.Buffer
	if err := f.args.Encode(cfg.initArgs, &buf); err != nil {
		return nil, fmt.Errorf("pool: initializer %q: arguments (%T): %w: %v", f.name, cfg.initArgs, engine.ErrArgsEncode, err)
	}
	if buf.Len() > MaxInitArgs {
		return nil, fmt.Errorf("pool: initializer %q: arguments: %w: %d bytes encoded, at most %d (MaxInitArgs); pass bulk data in a shared array",
			f.name, engine.ErrArgsTooLarge, buf.Len(), MaxInitArgs)
	}
	return &initSpec{Name: f.name, Args: buf.Bytes()}, nil
}

// InitError is the failure of a pool's initializer in a worker process: it
// returned an error or panicked. It wraps ErrInit and the initializer's
// error.
type InitError struct {
	Init   string // the initializer's registered name
	Worker int    // the participant whose process ran it

	// Failure holds the process and what went wrong: the initializer's
	// error (recreated from its text), or an *engine.PanicError and its
	// stack.
	engine.Failure
}

// Error says which initializer failed where, and why.
func (e *InitError) Error() string {
	s := fmt.Sprintf("initializer %q failed in worker %d (pid %d): %v", e.Init, e.Worker, e.PID, e.Err)
	if e.Stack != "" {
		s += "\n" + e.Stack
	}
	return s
}

// Unwrap returns ErrInit and the initializer's error.
func (e *InitError) Unwrap() []error { return []error{ErrInit, e.Err} }

// ---- worker processes ----

// initKey names a pool across the processes of one program: its id in the
// coordinator, and the coordinator.
type initKey struct {
	pool  uint64
	coord int
}

// initDone records, in a worker process, the initializers it ran: the
// error each returned (nil for success), so that each runs once.
var initDone struct {
	mu   sync.Mutex
	done map[initKey]*initResult
}

type initResult struct {
	err   error
	stack string
}

// ensureInit runs the pool's initializer in this process unless it ran
// already, and returns its outcome (the first one, ever after).
func ensureInit(ctx context.Context, key initKey, spec *initSpec) *initResult {
	if spec == nil || spec.Name == "" {
		return nil
	}
	initDone.mu.Lock()
	defer initDone.mu.Unlock()
	if r, ok := initDone.done[key]; ok {
		return r
	}
	if initDone.done == nil {
		initDone.done = map[initKey]*initResult{}
	}
	r := runInit(ctx, spec)
	initDone.done[key] = r
	return r
}

// runInit decodes the arguments and runs the initializer, recovering a
// panic.
func runInit(ctx context.Context, spec *initSpec) (r *initResult) {
	f, ok := inits.Lookup(spec.Name)
	if !ok {
		return &initResult{err: fmt.Errorf("%w: initializer %q (register initializers at package initialization, before engine.Main runs)", ErrUnknownFunc, spec.Name)}
	}
	a, err := f.args.Decode(spec.Args)
	if err != nil {
		return &initResult{err: fmt.Errorf("decode the arguments of initializer %q: %w", spec.Name, err)}
	}
	defer func() {
		if p := recover(); p != nil {
			r = &initResult{err: &engine.PanicError{Value: fmt.Sprint(p)}, stack: string(debug.Stack())}
		}
	}()
	if err := f.run(ctx, a); err != nil {
		return &initResult{err: err}
	}
	return &initResult{}
}

// initWireErr describes an initializer's failure for the coordinator.
func (r *initResult) wire() wireErr {
	return taskWireErr(0, r.err, r.stack)
}

// initError recreates, in the coordinator, the failure a worker reported.
func initError(name string, worker, pid int, e wireErr) *InitError {
	return &InitError{Init: name, Worker: worker, Failure: engine.Failure{PID: pid, Err: wireTaskErr(e), Stack: e.stack}}
}

// initK runs a pool's initializer in every worker process when the pool
// starts, so that New and On report its failure: each records it in its
// slot (putInitErr) for the coordinator to read after the job.
var initK = engine.Register("shmpar/pool.init", func(c *engine.Ctx, a initKArgs, lo, hi int) error {
	st := a.State
	me := c.Worker()
	if st == nil || me < 0 || me >= len(st.slots) {
		return fmt.Errorf("pool initializer: participant %d: bad arguments", me)
	}
	if os.Getpid() == st.coord {
		return nil // the coordinator (Primary) runs no tasks
	}
	if r := ensureInit(c.Context(), initKey{st.pool, st.coord}, st.init); r != nil && r.err != nil {
		st.putInitErr(me, r)
	}
	return nil
})

type initKArgs struct {
	State *poolShared
}

// startInit runs the initializer in every worker process of a new pool and
// returns the first failure.
func (q *procPool) startInit() error {
	if q.st.init == nil {
		return nil
	}
	if err := initK.For(context.Background(), q.team, q.parts, initKArgs{State: q.st}, engine.Static()); err != nil {
		return fmt.Errorf("pool: initializer %q: %w", q.st.init.Name, err)
	}
	pids := q.team.PIDs()
	for i := q.first; i < q.parts && i < len(pids); i++ {
		if e := q.st.initErr(i, pids[i]); e != nil {
			return fmt.Errorf("pool: %w", e)
		}
	}
	return nil
}

// initFailed breaks the pool: the initializer failed in a worker process
// that replaced one. The calls running fail with the error, and every
// later one.
func (q *procPool) initFailed(e *InitError) {
	if e == nil {
		return
	}
	q.broken.CompareAndSwap(nil, e)
	q.failAll(fmt.Errorf("pool: %w", q.broken.Load()))
	q.drain()
}
