package engine

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"github.com/shmpar/shmpar/engine/internal/codec"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Processes: Spawn runs one registered function in a new process, like
// Python's multiprocessing.Process. The child is this program re-executed
// (like a team worker, through the same locked spawning thread, so it dies
// with its parent); engine.Main recognizes it by envSpawned and runs the
// function instead of main (process_child.go).
//
// Three descriptors connect parent and child:
//
//	fd 3  lifeline  read end; the parent holds the only write end (EOF: parent gone)
//	fd 4  args      read end; the parent writes one gob spawnHeader, then closes
//	fd 5  report    write end; the child writes gob spawnReports: a hello once
//	                the function is found and its arguments decoded, then the result

// envSpawned marks a process started by Spawn:
// "v1;life=FD;args=FD;report=FD;ppid=PID".
const envSpawned = "SHMPAR_ENGINE_PROCESS"

// ErrUnknownProcessFunc is returned by Spawn when no function was
// registered under the name with RegisterProcess (functions are registered
// in init, so that the new process, running the same program, has them too).
var ErrUnknownProcessFunc = errors.New("unknown process function")

// ErrArgsType is returned by Spawn when args are not of the type the
// function was registered with.
var ErrArgsType = errors.New("arguments of the wrong type")

// ErrProcessDied is wrapped by the Err of a *ProcError when a spawned
// process ended without its function returning: it called os.Exit, hit a
// fatal runtime error (an unrecovered panic in another goroutine, an out of
// memory), or was killed by a signal (Kill, the OOM killer).
var ErrProcessDied = errors.New("process ended before its function returned")

// spawnFunc is a function registered with RegisterProcess. It is
// immutable after registration.
type spawnFunc struct {
	name    string
	argType reflect.Type
	zero    any   // zero value of argType, boxed (nil for an interface type)
	empty   bool  // argType has size zero: it travels as no bytes
	encErr  error // values of argType can never be encoded
	run     func(ctx context.Context, args any) error
}

var spawnFuncs struct {
	mu sync.Mutex
	m  map[string]*spawnFunc
}

func lookupSpawnFunc(name string) *spawnFunc {
	spawnFuncs.mu.Lock()
	defer spawnFuncs.mu.Unlock()
	return spawnFuncs.m[name]
}

// RegisterProcess registers fn under name, to be run in a new process by
// Spawn. Call it from an init function (or a package-level var
// initializer): the new process runs this same program, which must have
// registered the function before engine.Main runs.
//
// In the new process fn runs on the main goroutine; ctx is canceled when the
// process is asked to stop (Proc.Terminate, or the end of the context passed
// to Spawn). Its returned error, or a panic with its stack, is what the
// parent's Proc.Wait returns. The names of process functions are separate
// from those of kernels. RegisterProcess panics if name is empty, longer than
// MaxKernelName or already registered, or if fn is nil.
func RegisterProcess[A any](name string, fn func(ctx context.Context, args A) error) {
	if fn == nil {
		panic(fmt.Sprintf("engine: RegisterProcess %q: nil function", name))
	}
	if name == "" || len(name) > MaxKernelName {
		panic(fmt.Sprintf("engine: process function name %q: must be 1 to %d bytes", name, MaxKernelName))
	}
	c := codec.Of(reflect.TypeFor[A]())
	f := &spawnFunc{
		name:    name,
		argType: c.T,
		zero:    c.Zero,
		empty:   c.Empty,
		encErr:  c.Err,
		run: func(ctx context.Context, args any) error {
			a, _ := args.(A) // nil for an interface type A holding nil
			return fn(ctx, a)
		},
	}
	spawnFuncs.mu.Lock()
	defer spawnFuncs.mu.Unlock()
	if _, dup := spawnFuncs.m[name]; dup {
		panic(fmt.Sprintf("engine: process function %q registered twice", name))
	}
	if spawnFuncs.m == nil {
		spawnFuncs.m = map[string]*spawnFunc{}
	}
	spawnFuncs.m[name] = f
}

// check resolves args against f's type: nil means the zero value.
func (f *spawnFunc) check(args any) (any, error) {
	if args == nil {
		return f.zero, nil
	}
	t := reflect.TypeOf(args)
	if t == f.argType || (f.argType.Kind() == reflect.Interface && t.Implements(f.argType)) {
		return args, nil
	}
	return nil, fmt.Errorf("engine: Spawn %q: %w: registered with %s, called with %s", f.name, ErrArgsType, f.argType, t)
}

// encode returns the gob encoding of args (of f's type); no bytes for nil
// and empty types.
func (f *spawnFunc) encode(args any) ([]byte, error) {
	if f.empty || args == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	var err error
	if f.argType.Kind() == reflect.Interface {
		// gob sends an interface value with its registered type name only
		// when it sees the interface type itself.
		p := reflect.New(f.argType)
		p.Elem().Set(reflect.ValueOf(args))
		err = gob.NewEncoder(&buf).EncodeValue(p)
	} else {
		err = gob.NewEncoder(&buf).Encode(args)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w: %T: %v; arguments cross to the new process with encoding/gob", f.name, ErrArgsEncode, args, err)
	}
	return buf.Bytes(), nil
}

// decode is the inverse of encode, in the new process.
func (f *spawnFunc) decode(b []byte) (any, error) {
	if len(b) == 0 {
		return f.zero, nil
	}
	p := reflect.New(f.argType)
	if err := gob.NewDecoder(bytes.NewReader(b)).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("engine: process function %q: decode arguments of type %s: %w", f.name, f.argType, err)
	}
	return p.Elem().Interface(), nil
}

// ProcOption changes how Spawn starts a process.
type ProcOption struct {
	f func(*procOptions)
}

type procOptions struct {
	name           string
	prefix         bool
	env            []string
	stdout, stderr io.Writer
}

// Name names the process (Proc.Name, the "[name] " output prefix, the
// process attribute of its log records). The default is the function's
// name, a dash and a number counting this program's Spawn calls, such as
// "fetch-3".
func Name(name string) ProcOption {
	return ProcOption{func(o *procOptions) { o.name = name }}
}

// PrefixOutput makes each line the process writes to its stdout or stderr
// appear on the parent's (or on the Stdout and Stderr writers) prefixed with
// "[name] ". Without it the output passes through unchanged.
func PrefixOutput() ProcOption {
	return ProcOption{func(o *procOptions) { o.prefix = true }}
}

// Env adds "KEY=value" entries to the process's environment, which is
// otherwise this process's.
func Env(kv ...string) ProcOption {
	return ProcOption{func(o *procOptions) { o.env = append(o.env, kv...) }}
}

// Stdout sends the process's standard output to w instead of this
// process's os.Stdout; nil discards it. w receives one Write at a time from
// a Proc.
func Stdout(w io.Writer) ProcOption {
	return ProcOption{func(o *procOptions) { o.stdout = w }}
}

// Stderr sends the process's standard error (its log records included) to
// w instead of this process's os.Stderr; nil discards it. w receives one
// Write at a time from a Proc.
func Stderr(w io.Writer) ProcOption {
	return ProcOption{func(o *procOptions) { o.stderr = w }}
}

// spawnCount numbers the default process names.
var spawnCount atomic.Int64

// spawnLife is the lifeline of every process this one spawns: they hold the
// read end, this process the only write end, which it never closes, so
// they read EOF when this process is gone (even where PDEATHSIG did not
// fire).
var spawnLife struct {
	once sync.Once
	r, w *os.File
	err  error
}

func spawnLifeline() (*os.File, error) {
	spawnLife.once.Do(func() {
		spawnLife.r, spawnLife.w, spawnLife.err = os.Pipe()
	})
	return spawnLife.r, spawnLife.err
}

// spawnHeader is what the parent sends a new process on its args pipe.
type spawnHeader struct {
	Func string // registered function
	Name string // the process's name
	Args []byte // gob encoding of the arguments (none for the zero value)
}

// Kinds of spawnReport.
const (
	repHello    uint8 = iota + 1 // the function was found and its arguments decoded; it runs
	repStartErr                  // the function could not be started (Msg says why)
	repOK                        // it returned nil
	repErr                       // it returned an error (Msg, Sentinel)
	repPanic                     // it panicked (Msg, Stack)
)

// spawnReport is what a spawned process sends its parent on the report
// pipe.
type spawnReport struct {
	Kind     uint8
	Sentinel uint32 // sentinelCode of a returned error
	Msg      string
	Stack    string
}

// Proc is a process started by Spawn: Python's multiprocessing.Process,
// started. (The name Process is taken by the Backend constant.) Its methods
// may be called from any goroutine.
//
// The process dies with this one, even when this one is killed with
// SIGKILL, as if Python's daemon flag were always set: a program that wants
// a process's result waits for it.
type Proc struct {
	name string
	fn   string
	pid  int
	cmd  *exec.Cmd
	tail *reexec.Tail
	outs []*prefixWriter // flushed once the output is copied

	hello chan struct{} // closed when the child reports that the function runs
	done  chan struct{} // closed when the process has exited and been reaped

	mu     sync.Mutex
	ctxErr error // the context passed to Spawn ended while the process ran

	// Set before done is closed.
	report *spawnReport // the last report other than hello
	state  *os.ProcessState
	err    error
}

// Spawn runs the function registered under name with RegisterProcess in a
// new process, with args, and returns once the function has started there.
// The new process is this program run again: engine.Main, the first call in
// main, runs the function in it and exits.
//
// args must have the function's registered type (nil means its zero value);
// it crosses to the process encoded with encoding/gob, so a *queue.Queue,
// *queue.Conn, *array.Array or *value.Value inside it crosses as a reference
// to its shared memory, and the process works on the same queue, pipe or
// data. Because Spawn returns only after the process has decoded args, an
// anonymous queue or array passed in it may be closed here at once. An
// unknown name, arguments of the wrong type (ErrArgsType) or that gob cannot
// encode (ErrArgsEncode) are errors before any process starts. If the
// program does not call engine.Main first, the new process stops at once and
// Spawn returns ErrNoMain; other start failures wrap ErrStart.
//
// ctx bounds the life of the process, as with exec.CommandContext: when it
// ends before the process does, the process is terminated (see
// Proc.Terminate), and killed if it is still there 2*DefaultCancelGrace later.
// Pass context.Background() for a process that runs until its function
// returns.
//
// The process's stdout and stderr go to this process's (see Stdout, Stderr,
// PrefixOutput); its stdin is empty. In the process, the default log/slog
// logger writes text records to stderr with the attributes process=NAME and
// pid=PID (the standard log package goes through it too), and ProcessName
// returns NAME.
func Spawn(ctx context.Context, name string, args any, opts ...ProcOption) (*Proc, error) {
	reexec.Guard("Spawn")
	f := lookupSpawnFunc(name)
	if f == nil {
		return nil, fmt.Errorf("engine: Spawn: %w %q (register it with engine.RegisterProcess in an init function)", ErrUnknownProcessFunc, name)
	}
	if f.encErr != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w: %w", name, ErrArgsEncode, f.encErr)
	}
	a, err := f.check(args)
	if err != nil {
		return nil, err
	}
	enc, err := f.encode(a)
	if err != nil {
		return nil, err
	}
	o := procOptions{stdout: os.Stdout, stderr: os.Stderr}
	for _, opt := range opts {
		if opt.f != nil {
			opt.f(&o)
		}
	}
	if o.name == "" {
		o.name = fmt.Sprintf("%s-%d", name, spawnCount.Add(1))
	}
	if o.stdout == nil {
		o.stdout = io.Discard
	}
	if o.stderr == nil {
		o.stderr = io.Discard
	}
	var hdr bytes.Buffer
	if err := gob.NewEncoder(&hdr).Encode(spawnHeader{Func: name, Name: o.name, Args: enc}); err != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w: %w", name, ErrArgsEncode, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w", name, err)
	}

	life, err := spawnLifeline()
	if err != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w: lifeline pipe: %w", name, ErrStart, err)
	}
	argsR, argsW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("engine: Spawn %q: %w: %w", name, ErrStart, err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		argsR.Close()
		argsW.Close()
		return nil, fmt.Errorf("engine: Spawn %q: %w: %w", name, ErrStart, err)
	}

	p := &Proc{name: o.name, fn: name, hello: make(chan struct{}), done: make(chan struct{})}
	var outMu sync.Mutex // one Write at a time from this process's two streams
	stdout, stderr := o.stdout, o.stderr
	if o.prefix {
		po := &prefixWriter{mu: &outMu, w: o.stdout, prefix: "[" + o.name + "] "}
		pe := &prefixWriter{mu: &outMu, w: o.stderr, prefix: po.prefix}
		p.outs = []*prefixWriter{po, pe}
		stdout, stderr = po, pe
	} else {
		// An *os.File is handed to the process as is; other writers are
		// fed by a goroutine per stream.
		if _, ok := stdout.(*os.File); !ok {
			stdout = &lockedWriter{mu: &outMu, w: stdout}
		}
		if _, ok := stderr.(*os.File); !ok {
			stderr = &lockedWriter{mu: &outMu, w: stderr}
		}
	}
	p.tail = &reexec.Tail{W: stderr}

	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = spawnEnviron(spawnEnv{life: 3, args: 4, report: 5, ppid: os.Getpid()}, o.env)
	cmd.ExtraFiles = []*os.File{life, argsR, repW}
	cmd.Stdout = stdout
	cmd.Stderr = p.tail
	cmd.SysProcAttr = reexec.SysProcAttr()
	cmd.WaitDelay = time.Second // a grandchild holding the output pipes does not hold up Wait
	err = reexec.Start(cmd)
	argsR.Close()
	repW.Close()
	if err != nil {
		argsW.Close()
		repR.Close()
		return nil, fmt.Errorf("engine: Spawn %q: %w: %w", name, ErrStart, err)
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	go func() {
		// The child reads it all unless it dies, which closes the pipe.
		_, _ = argsW.Write(hdr.Bytes())
		argsW.Close()
	}()
	go p.watch(repR)

	timer := time.NewTimer(DefaultHelloTimeout)
	defer timer.Stop()
	select {
	case <-p.hello:
	case <-p.done:
		select {
		case <-p.hello: // a quick function: started and already done
		default:
			return nil, p.startError()
		}
	case <-ctx.Done():
		p.abort()
		return nil, fmt.Errorf("engine: Spawn %q: %w", name, ctx.Err())
	case <-timer.C:
		p.abort()
		return nil, fmt.Errorf("engine: Spawn %q: %w: process %q (pid %d) did not start the function within %v (does main call engine.Main() first?)%s",
			name, ErrStart, p.name, p.pid, DefaultHelloTimeout, reexec.Note("process", p.tail.String()))
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			p.mu.Lock()
			p.ctxErr = ctx.Err()
			p.mu.Unlock()
			_ = p.Terminate()
			t := time.AfterFunc(2*DefaultCancelGrace, func() { _ = p.Kill() })
			go func() { <-p.done; t.Stop() }()
		})
		go func() { <-p.done; stop() }()
	}
	return p, nil
}

// abort kills a process that did not start its function and reaps it.
func (p *Proc) abort() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(DefaultCloseTimeout):
	}
}

// watch reads the child's reports until the pipe closes, reaps the child
// and publishes the outcome.
func (p *Proc) watch(rep *os.File) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer rep.Close()
		dec := gob.NewDecoder(rep)
		hello := false
		for {
			var r spawnReport
			if err := dec.Decode(&r); err != nil {
				return
			}
			if r.Kind == repHello {
				if !hello {
					hello = true
					close(p.hello)
				}
				continue
			}
			p.report = &r
		}
	}()
	_ = p.cmd.Wait()
	select {
	case <-read:
	case <-time.After(time.Second):
		rep.Close() // a descendant kept the report pipe open: stop reading
		<-read
	}
	for _, w := range p.outs {
		w.flush()
	}
	p.state = p.cmd.ProcessState
	p.err = p.result()
	close(p.done)
}

// exit returns the exit code (-1 for a signal) and the signal that ended
// the process.
func (p *Proc) exit() (int, syscall.Signal) {
	if p.state == nil {
		return -1, 0
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return p.state.ExitCode(), 0
}

func (p *Proc) describe() string {
	code, sig := p.exit()
	if sig != 0 {
		return fmt.Sprintf("was killed by signal %d (%v)", int(sig), sig)
	}
	return fmt.Sprintf("exited with status %d", code)
}

// result turns the reports and the exit status into Wait's error.
func (p *Proc) result() error {
	code, sig := p.exit()
	e := &ProcError{Name: p.name, PID: p.pid, ExitCode: code, Signal: sig}
	if r := p.report; r != nil {
		switch r.Kind {
		case repOK:
			return nil
		case repErr:
			e.Err = remote.New(r.Msg, r.Sentinel)
			return e
		case repPanic:
			e.Err, e.Stack = &PanicError{Value: r.Msg}, r.Stack
			return e
		}
	}
	if code == 0 {
		return nil // the function ended the process with os.Exit(0)
	}
	e.Err = fmt.Errorf("%w: it %s", ErrProcessDied, p.describe())
	p.mu.Lock()
	if p.ctxErr != nil {
		e.Err = fmt.Errorf("%w: it %s after the context passed to Spawn ended (%w)", ErrProcessDied, p.describe(), p.ctxErr)
	}
	p.mu.Unlock()
	e.Output = p.tail.String()
	return e
}

// startError explains why a process exited before it started its function.
func (p *Proc) startError() error {
	out := p.tail.String()
	if r := p.report; r != nil && r.Kind == repStartErr {
		return fmt.Errorf("engine: Spawn %q: %w: process %q (pid %d): %s", p.fn, ErrStart, p.name, p.pid, r.Msg)
	}
	if code, sig := p.exit(); sig == 0 && (code == reexec.ExitNoMain || code == 0) {
		return fmt.Errorf("engine: Spawn %q: process %q (pid %d) %s before it started the function: %w (the new process runs this program again, which must hand over to the engine at once)%s",
			p.fn, p.name, p.pid, p.describe(), ErrNoMain, reexec.Note("process", out))
	}
	return fmt.Errorf("engine: Spawn %q: %w: process %q (pid %d) %s before it started the function (does main call engine.Main() first?)%s",
		p.fn, ErrStart, p.name, p.pid, p.describe(), reexec.Note("process", out))
}

// Name returns the process's name (see the Name option).
func (p *Proc) Name() string { return p.name }

// PID returns the process id.
func (p *Proc) PID() int { return p.pid }

// String describes the process, like Python's repr of a Process:
// `process "fetch-3" (pid 4242, running)`.
func (p *Proc) String() string {
	how := "running"
	if !p.Alive() {
		how = p.describe()
	}
	return fmt.Sprintf("process %q (pid %d, %s)", p.name, p.pid, how)
}

// Done returns a channel that is closed when the process has exited (and
// Wait will not block).
func (p *Proc) Done() <-chan struct{} { return p.done }

// Alive reports whether the process is still running (Python's is_alive).
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Wait waits for the process to exit (Python's join) and returns nil if its
// function returned nil (or it ended with exit status 0). Otherwise it
// returns a *ProcError: with the function's error (its text; errors.Is still
// matches context.Canceled and context.DeadlineExceeded), a *PanicError and
// its stack, or an error wrapping ErrProcessDied with the exit status or the
// signal and the tail of the process's stderr. It may be called any number
// of times, from any goroutine.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// WaitContext is Wait bounded by ctx: if ctx ends first it returns an error
// wrapping ctx.Err(), and the process goes on running.
func (p *Proc) WaitContext(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("engine: wait for process %q: %w", p.name, ctx.Err())
	}
}

// ExitCode returns the process's exit status: 0 once its function returned
// nil, 1 when it returned an error or panicked, what it passed to os.Exit
// otherwise; -1 while it runs and when a signal killed it (then Wait's
// *ProcError has the Signal; Python's exitcode would be its negative).
func (p *Proc) ExitCode() int {
	if p.Alive() {
		return -1
	}
	code, _ := p.exit()
	return code
}

// Signal sends sig to the process. It does nothing (and returns nil) once
// the process has exited.
func (p *Proc) Signal(sig os.Signal) error {
	if !p.Alive() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("engine: signal process %q (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// Kill kills the process with SIGKILL (Python's kill); Wait then returns a
// *ProcError with Signal SIGKILL. It does nothing once the process has
// exited.
func (p *Proc) Kill() error { return p.Signal(syscall.SIGKILL) }

// Terminate asks the process to stop (Python's terminate): it sends
// SIGTERM, which cancels the context its function runs with. A function that
// returns within DefaultCancelGrace ends the process normally (Wait returns
// its error, typically context.Canceled); after that the process dies by
// SIGTERM (Wait returns a *ProcError with that Signal), as it does at once on
// a second Terminate.
func (p *Proc) Terminate() error { return p.Signal(syscall.SIGTERM) }

// ProcError describes how a spawned process failed; Proc.Wait returns it.
type ProcError struct {
	Name string // the process's name
	PID  int

	// ExitCode is the exit status (1 when the function returned an error or
	// panicked), -1 when a signal killed the process.
	ExitCode int

	// Signal is the signal that killed the process, 0 if none did.
	Signal syscall.Signal

	// Err is the function's error (recreated from its text, so errors.Is
	// sees only this package's sentinels and the context errors), a
	// *PanicError, or an error wrapping ErrProcessDied.
	Err error

	// Stack is the stack of the goroutine that panicked, empty otherwise.
	Stack string

	// Output is the tail of what the process wrote to its stderr when it
	// died without its function returning (a Go runtime crash report),
	// empty otherwise.
	Output string
}

// Error formats the failure on one line, followed by the stderr tail when
// there is one.
func (e *ProcError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine: process %q (pid %d): %v", e.Name, e.PID, e.Err)
	if e.Output != "" {
		fmt.Fprintf(&b, "\nprocess stderr (tail):\n%s", e.Output)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *ProcError) Unwrap() error { return e.Err }

// spawnEnv is what a spawned process finds in envSpawned.
type spawnEnv struct {
	life, args, report, ppid int
}

func formatSpawnEnv(e spawnEnv) string {
	return fmt.Sprintf("v1;life=%d;args=%d;report=%d;ppid=%d", e.life, e.args, e.report, e.ppid)
}

// spawnEnviron is this process's environment without the roles' markers,
// with the spawned marker, GORACE adjusted (no exit delay under -race), and
// extra.
func spawnEnviron(e spawnEnv, extra []string) []string {
	return reexec.Environ([]string{envSpawned + "=" + formatSpawnEnv(e)}, extra)
}

// prefixWriter writes each complete line with a prefix; flush writes a
// last unterminated line.
type prefixWriter struct {
	mu     *sync.Mutex // shared with the process's other stream
	w      io.Writer
	prefix string
	part   []byte // an unterminated line
	out    []byte
}

// maxPartLine bounds an unterminated line kept back; a longer one is
// written as a line of its own.
const maxPartLine = 64 << 10

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	p.out = p.out[:0]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.part = append(p.part, b...)
			if len(p.part) >= maxPartLine {
				p.out = append(append(append(p.out, p.prefix...), p.part...), '\n')
				p.part = p.part[:0]
			}
			break
		}
		p.out = append(append(append(p.out, p.prefix...), p.part...), b[:i+1]...)
		p.part = p.part[:0]
		b = b[i+1:]
	}
	if len(p.out) > 0 {
		_, _ = p.w.Write(p.out) // a failing writer must not block the process
	}
	return n, nil
}

func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.part) > 0 {
		_, _ = p.w.Write(append(append([]byte(p.prefix), p.part...), '\n'))
		p.part = nil
	}
}

// lockedWriter serializes the writes of a process's two streams.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b)
	return len(b), nil
}
