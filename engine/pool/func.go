package pool

import (
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"reflect"
	"slices"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/codec"
	"github.com/shmpar/shmpar/engine/internal/registry"
)

// poolFunc is a function registered with Register. It is immutable after
// registration.
type poolFunc struct {
	name       string
	in, out    reflect.Type
	idempotent bool

	// inFlat and outFlat report that the type is copied byte for byte
	// instead of gob-encoded (see codec.Flat).
	inFlat, outFlat bool

	// direct reports that a Map of the function can run as a direct call
	// (see direct.go): flat input and result, small enough for the area.
	direct bool

	// inPlain reports that gob encoding of In cannot fail for some values
	// only (no interfaces, no custom marshalers): then a call's inputs are
	// not encoded once in advance to find the values that fail.
	inPlain bool

	// err is set when values of In or Out can never cross to a worker
	// process (found by walking the types at registration).
	err error

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
	decodeJournal(p []byte, outs any, i, n int) error
	serve(w *poolWorker, h *taskHdr, payload []byte) error
	runLocal(g *goPool, gw *goWorker, b *batch)
	directBind(ar *directArea, so, io, oo, n int)
	direct(w *directWorker, c *engine.Ctx, slot *directSlot, lo, hi int)
	zeroOut(outs any, i int)
}

// funcs are the registered functions: a worker process finds a batch's
// function here by its name.
var funcs = registry.New[*poolFunc]("pool: function")

// Func is a function registered with Register: it takes an In and returns
// an Out, and runs as tasks on a Pool. A *Func is safe for concurrent use.
type Func[In, Out any] struct{ f *poolFunc }

// FuncOption changes how a function is registered.
type FuncOption func(*funcConfig)

type funcConfig struct {
	idempotent bool
}

// Idempotent declares that running the function twice on an input is
// harmless: a task whose worker process died while it ran (or before its
// result was sent) is then run again, up to three times, instead of
// failing with engine.ErrWorkerDied.
func Idempotent() FuncOption { return func(c *funcConfig) { c.idempotent = true } }

// Register registers fn under name and returns its handle, through which
// programs run it on a Pool (Map, Imap, ImapUnordered, Apply, Submit).
// Call it from an init function or a package-level var initializer: the
// worker processes run the same program but never return from engine.Main,
// so only what is registered during initialization exists there.
//
//	var area = pool.Register("area", func(ctx context.Context, r Rect) (float64, error) {
//		return r.W * r.H, nil
//	})
//
// A task runs fn once on one input. Inputs and results cross between
// processes with the pool's codec: encoding/gob, except that a flat type —
// numbers, bools, and arrays and structs of them whose fields are all
// exported — is copied byte for byte, which gives the same value (both sides
// run the same binary) without the cost of encoding. A type that gob can
// never encode (a chan, a func, a struct without exported fields) is an
// error (engine.ErrArgsEncode) at the first call, before anything runs. To
// pass several arguments, make In a struct (see the starmap example); bulk
// data belongs in shared arrays (*array.Array crosses as its name).
//
// The context fn receives is done when the call is canceled, the task's
// Timeout passes, or the pool closes; fn must not keep it after it returns.
//
// Register panics if name is empty, longer than 200 bytes or already
// registered, or if fn is nil. The names of pool functions are separate
// from those of kernels and process functions.
func Register[In, Out any](name string, fn func(ctx context.Context, in In) (Out, error), opts ...FuncOption) *Func[In, Out] {
	if fn == nil {
		panic(fmt.Sprintf("pool: Register %q: nil function", name))
	}
	in, out := reflect.TypeFor[In](), reflect.TypeFor[Out]()
	ic, oc := codec.Of(in), codec.Of(out)
	f := &poolFunc{
		name:    name,
		in:      in,
		out:     out,
		inFlat:  ic.Flat,
		outFlat: oc.Flat,
		inPlain: in.Kind() != reflect.Interface && ic.Plain,
	}
	f.direct = f.inFlat && f.outFlat && directWindow(directMaxData, int(in.Size()), int(out.Size())) > 0
	if ic.Err != nil {
		f.err = fmt.Errorf("pool: func %q: input: %w: %w", name, engine.ErrArgsEncode, ic.Err)
	} else if oc.Err != nil {
		f.err = fmt.Errorf("pool: func %q: result: %w: %w", name, engine.ErrArgsEncode, oc.Err)
	}
	var cfg funcConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	f.idempotent = cfg.idempotent
	f.ops = &funcImpl[In, Out]{f: f, fn: fn}
	funcs.Add(name, f)
	return &Func[In, Out]{f}
}

// Name returns the name the function was registered under.
func (h *Func[In, Out]) Name() string { return h.f.name }

// check returns the function of a handle, or why it cannot run.
func (h *Func[In, Out]) check() (*poolFunc, error) {
	if h == nil || h.f == nil {
		return nil, fmt.Errorf("pool: a nil or zero Func (use the value Register returns): %w", ErrUnknownFunc)
	}
	if h.f.err != nil {
		return nil, h.f.err
	}
	return h.f, nil
}

// funcImpl holds a registered function with its types. In a worker process
// it also holds the buffers of the batch being served (one at a time).
type funcImpl[In, Out any] struct {
	f  *poolFunc
	fn func(context.Context, In) (Out, error)

	wIn  []In  // worker: decoded inputs (gob)
	wOut []Out // worker: results

	// worker: the task states, inputs and results of a direct call
	dSt   []uint16
	dIns  []In
	dOuts []Out
}

func (o *funcImpl[In, Out]) newOut(n int) any  { return make([]Out, n) }
func (o *funcImpl[In, Out]) cloneIn(v any) any { return slices.Clone(v.([]In)) }

func (o *funcImpl[In, Out]) zeroOut(v any, i int) {
	var zero Out
	v.([]Out)[i] = zero
}

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
		if len(p) == 0 && len(s) == 1 {
			clear(s) // a result too large to send: its error says so
			return nil
		}
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

// decodeJournal decodes n results from a dead worker's journal into
// outs[i:i+n]: their raw bytes, or a gob stream of a message per value
// that starts with the journal.
func (o *funcImpl[In, Out]) decodeJournal(p []byte, v any, i, n int) error {
	s := v.([]Out)[i : i+n : i+n]
	if o.f.outFlat {
		b := rawBytes(s)
		if len(p) != len(b) {
			return fmt.Errorf("journal of %d bytes for %d values of %s", len(p), n, o.f.out)
		}
		copy(b, p)
		return nil
	}
	clear(s)
	var g gobIn
	return g.decodeEach(p, true, n, func(k int) any { return &s[k] })
}
