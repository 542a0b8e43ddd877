package engine

import (
	"context"
	"encoding/gob"
	"fmt"
	"github.com/shmpar/shmpar/engine/internal/codec"
	"io"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// poolFunc is a function registered with RegisterFunc. It is immutable after
// registration.
type poolFunc struct {
	name       string
	in, out    reflect.Type
	idempotent bool

	// inFlat and outFlat report that the type is copied byte for byte
	// instead of gob-encoded (see flatType).
	inFlat, outFlat bool

	// inPlain reports that gob encoding of In cannot fail for some values
	// only (no interfaces, no custom marshalers): then a call's inputs are
	// not encoded once in advance to find the values that fail.
	inPlain bool

	// inErr and outErr are set when values of the type can never cross to a
	// worker process (found by walking the type at registration).
	inErr, outErr error

	ops funcOps
}

// funcOps are the typed operations on a function's inputs and outputs,
// implemented by funcImpl[In, Out]. Values travel through the pool as any
// holding []In or []Out, with the range [i, j) a batch covers.
type funcOps interface {
	newOut(n int) any
	cloneIn(ins any) any
	checkIn(ins any) (int, error)
	encodeIn(g *gobOut, dst []byte, ins any, i, j int) ([]byte, bool, error)
	decodeOut(g *gobIn, p []byte, fresh bool, outs any, i, j int) error
	serve(w *poolWorker, h *taskHdr, payload []byte) error
	runLocal(g *goPool, gw *goWorker, b *batch)
}

var funcRegistry struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*poolFunc]
}

func lookupFunc(name string) *poolFunc {
	m := funcRegistry.m.Load()
	if m == nil {
		return nil
	}
	return (*m)[name]
}

// RegisterFunc registers fn under name for the calls of a Pool (Map, Imap,
// ImapUnordered, Apply, ApplyAsync). Call it from an init function (or a
// package-level var initializer): the worker processes run the same program
// but never return from Main, so only what is registered during
// initialization exists there.
//
// A task runs fn once on one input. Inputs and results cross between
// processes with the pool's codec: encoding/gob, except that a flat type —
// numbers, bools, and arrays and structs of them whose fields are all
// exported — is copied byte for byte, which gives the same value (both sides
// run the same binary) without the cost of encoding. A type that gob can
// never encode (a chan, a func, a struct without exported fields) is an
// error at the first call, before anything runs. To pass several arguments,
// make In a struct (see the StarMap example); bulk data belongs in shared
// arrays (*array.Array crosses as its name).
//
// The context fn receives is done when the call is canceled, the task's
// Timeout passes, or the pool closes; fn must not keep it after it returns.
// With Idempotent, a task whose worker process died while it ran (or before
// its result was sent) is run again, up to three times; otherwise it fails
// with ErrWorkerDied.
//
// RegisterFunc panics if name is empty, longer than MaxKernelName or already
// registered, or if fn is nil.
func RegisterFunc[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error), opts ...KernelOption) {
	if fn == nil {
		panic(fmt.Sprintf("engine: RegisterFunc %q: nil function", name))
	}
	if name == "" || len(name) > MaxKernelName {
		panic(fmt.Sprintf("engine: function name %q: must be 1 to %d bytes", name, MaxKernelName))
	}
	in, out := reflect.TypeFor[In](), reflect.TypeFor[Out]()
	f := &poolFunc{
		name:    name,
		in:      in,
		out:     out,
		inFlat:  codec.Flat(in),
		outFlat: codec.Flat(out),
		inPlain: in.Kind() != reflect.Interface && codec.Plain(in),
		inErr:   codec.Of(in).Err,
		outErr:  codec.Of(out).Err,
	}
	var cfg kernelConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	f.idempotent = cfg.idempotent
	f.ops = &funcImpl[In, Out]{f: f, fn: fn}

	funcRegistry.mu.Lock()
	defer funcRegistry.mu.Unlock()
	old := funcRegistry.m.Load()
	m := make(map[string]*poolFunc)
	if old != nil {
		if _, dup := (*old)[name]; dup {
			panic(fmt.Sprintf("engine: function %q registered twice", name))
		}
		for k, v := range *old {
			m[k] = v
		}
	}
	m[name] = f
	funcRegistry.m.Store(&m)
}

// funcFor looks up the function name and checks that it takes In and
// returns Out.
func funcFor[In, Out any](name string) (*poolFunc, error) {
	f := lookupFunc(name)
	if f == nil {
		return nil, fmt.Errorf("engine: %w %q (register it with engine.RegisterFunc in an init function)", ErrUnknownFunc, name)
	}
	in, out := reflect.TypeFor[In](), reflect.TypeFor[Out]()
	if f.in != in || f.out != out {
		return nil, fmt.Errorf("engine: %w: func %q takes %s and returns %s, called with %s and %s", ErrFuncType, name, f.in, f.out, in, out)
	}
	if f.inErr != nil {
		return nil, fmt.Errorf("engine: func %q: input: %w: %w", name, ErrArgsEncode, f.inErr)
	}
	if f.outErr != nil {
		return nil, fmt.Errorf("engine: func %q: result: %w: %w", name, ErrArgsEncode, f.outErr)
	}
	return f, nil
}

// funcImpl holds a registered function with its types. In a worker process
// it also holds the buffers of the batch being served (one at a time).
type funcImpl[In, Out any] struct {
	f  *poolFunc
	fn func(context.Context, In) (Out, error)

	wIn  []In  // worker: decoded inputs (gob)
	wOut []Out // worker: results
}

func (o *funcImpl[In, Out]) newOut(n int) any  { return make([]Out, n) }
func (o *funcImpl[In, Out]) cloneIn(v any) any { return slices.Clone(v.([]In)) }

// checkIn encodes every input once, for types whose encoding may fail for
// some values only, and returns the index of the first that fails.
func (o *funcImpl[In, Out]) checkIn(v any) (int, error) {
	if o.f.inFlat || o.f.inPlain {
		return 0, nil
	}
	s := v.([]In)
	enc := gob.NewEncoder(io.Discard)
	for i := range s {
		if err := enc.Encode(&s[i]); err != nil {
			return i, err
		}
	}
	return 0, nil
}

// encodeIn appends the payload of the inputs [i, j) to dst.
func (o *funcImpl[In, Out]) encodeIn(g *gobOut, dst []byte, v any, i, j int) ([]byte, bool, error) {
	s := v.([]In)[i:j:j]
	if o.f.inFlat {
		return append(dst, rawBytes(s)...), false, nil
	}
	return g.encode(dst, s)
}

// decodeOut decodes a result payload into outs[i:j] (j-i is the number of
// values in it).
func (o *funcImpl[In, Out]) decodeOut(g *gobIn, p []byte, fresh bool, v any, i, j int) error {
	s := v.([]Out)[i:j:j]
	if o.f.outFlat {
		b := rawBytes(s)
		if len(p) != len(b) {
			return fmt.Errorf("result payload of %d bytes for %d values of %s", len(p), len(s), o.f.out)
		}
		copy(b, p)
		return nil
	}
	clear(s)
	t := s[:0]
	if err := g.decode(p, fresh, &t); err != nil {
		return err
	}
	if len(t) != len(s) {
		return fmt.Errorf("%d results in a message for %d", len(t), len(s))
	}
	if len(t) > 0 && &t[0] != &s[0] {
		copy(s, t)
	}
	return nil
}
