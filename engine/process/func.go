package process

import (
	"bytes"
	"context"
	"fmt"
	"reflect"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/codec"
	"github.com/shmpar/shmpar/engine/internal/registry"
)

// fn is a registered process function. It is immutable after
// registration.
type fn struct {
	name string
	args *codec.Type
	run  func(ctx context.Context, args any) error
}

// funcs are the registered functions: the new process finds its function
// here by the name its parent sends.
var funcs = registry.New[*fn]("process: function")

// Func is a function registered with Register, to be run in new processes
// with arguments of type A. A *Func is safe for concurrent use.
type Func[A any] struct{ f *fn }

// Register registers fn under name and returns its handle, whose Start runs
// fn in a new process. Call it from an init function or a package-level
// var initializer: the new process runs this same program, which must have
// registered the function before engine.Main runs.
//
//	var fetch = process.Register("fetch", func(ctx context.Context, a FetchArgs) error { ... })
//
// In the new process fn runs on the main goroutine; ctx is canceled when
// the process is asked to stop (Process.Terminate, or the end of the
// context passed to Start). Its returned error, or a panic with its stack,
// is what the parent's Process.Wait returns. Register panics if name is
// empty, longer than 200 bytes or already registered, or if fn is nil.
// The names of process functions are separate from those of kernels and
// pool functions.
func Register[A any](name string, f func(ctx context.Context, args A) error) *Func[A] {
	if f == nil {
		panic(fmt.Sprintf("process: Register %q: nil function", name))
	}
	r := &fn{
		name: name,
		args: codec.Of(reflect.TypeFor[A]()),
		run: func(ctx context.Context, args any) error {
			a, _ := args.(A) // nil for an interface type A holding nil
			return f(ctx, a)
		},
	}
	funcs.Add(name, r)
	return &Func[A]{r}
}

// Name returns the name the function was registered under.
func (f *Func[A]) Name() string { return f.f.name }

// Start runs the function in a new process with args and returns once the
// function has started there: the new process is this program run again,
// where engine.Main, the first call in main, runs the function and exits.
//
// args cross to the process encoded with encoding/gob, so a *queue.Queue,
// *queue.Conn, *array.Array or *value.Value inside them crosses as a
// reference to its shared memory, and the process works on the same queue,
// pipe or data. Because Start returns only after the process has decoded
// args, an anonymous queue or array passed in them may be closed here at
// once. Arguments that gob cannot encode are an error (wrapping
// engine.ErrArgsEncode) before any process starts. If the program does not
// call engine.Main first, the new process stops at once and Start returns
// engine.ErrNoMain; other start failures wrap engine.ErrStart.
//
// ctx bounds the life of the process, as with exec.CommandContext: when it
// ends before the process does, the process is terminated (see
// Process.Terminate), and killed if it is still there
// 2·engine.DefaultCancelGrace later. Pass context.Background() for a
// process that runs until its function returns.
//
// The process's stdout and stderr go to this process's (see the Stdout,
// Stderr and PrefixOutput options); its stdin is empty. In the process,
// the default log/slog logger writes text records to stderr with the
// attributes process=NAME and pid=PID (the standard log package goes
// through it too), and engine.ProcessName returns NAME.
func (f *Func[A]) Start(ctx context.Context, args A, opts ...Option) (*Process, error) {
	if f == nil || f.f == nil {
		return nil, fmt.Errorf("process: Start of a nil or zero Func (use the value Register returns): %w", ErrUnknownFunc)
	}
	return start(ctx, f.f, args, opts)
}

// encode returns the gob encoding of args (of f's type); no bytes for nil
// and empty types.
func (f *fn) encode(args any) ([]byte, error) {
	if f.args.Err != nil {
		return nil, fmt.Errorf("arguments: %w: %w", engine.ErrArgsEncode, f.args.Err)
	}
	var buf bytes.Buffer
	if err := f.args.Encode(args, &buf); err != nil {
		return nil, fmt.Errorf("arguments (%T): %w: %v; arguments cross to the new process with encoding/gob", args, engine.ErrArgsEncode, err)
	}
	return buf.Bytes(), nil
}
