package process

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/reexec"
)

// A process is this program re-executed (through engine/internal/reexec's
// spawning thread, like a team worker, so it dies with its parent);
// engine.Main recognizes it by envProcess and runs the function instead of
// main (child.go). Four descriptors connect parent and child:
//
//	fd 3  lifeline  read end; the parent holds the only write end (EOF: parent gone)
//	fd 4  args      read end; the parent writes one gob header, then closes
//	fd 5  report    write end; the child writes gob reports: a hello once
//	                the function is found and its arguments decoded, then the result

// envProcess marks a process started by Start:
// "v1;life=FD;args=FD;report=FD;ppid=PID".
const envProcess = "SHMPAR_ENGINE_PROCESS"

// header is what the parent sends a new process on its args pipe.
type header struct {
	Func string // registered function
	Name string // the process's name
	Args []byte // gob encoding of the arguments (none for the zero value)
}

// Kinds of report.
const (
	repHello    uint8 = iota + 1 // the function was found and its arguments decoded; it runs
	repStartErr                  // the function could not be started (Msg says why)
	repOK                        // it returned nil
	repErr                       // it returned an error (Msg, Sentinel)
	repPanic                     // it panicked (Msg, Stack)
	repUnknown                   // the function is not registered in the new process
)

// report is what a process sends its parent on the report pipe.
type report struct {
	Kind     uint8
	Sentinel uint32 // remote.Code of a returned error
	Msg      string
	Stack    string
}

// childEnv is what a process finds in envProcess.
type childEnv struct {
	life, args, report, ppid int
}

func formatChildEnv(e childEnv) string {
	return fmt.Sprintf("v1;life=%d;args=%d;report=%d;ppid=%d", e.life, e.args, e.report, e.ppid)
}

// started numbers the default process names.
var started atomic.Int64

// start runs f in a new process (see Func.Start).
func start(ctx context.Context, f *fn, args any, opts []Option) (*Process, error) {
	reexec.Guard("process.Start")
	errorf := func(format string, a ...any) error {
		return fmt.Errorf("process: start %q: "+format, append([]any{f.name}, a...)...)
	}
	enc, err := f.encode(args)
	if err != nil {
		return nil, errorf("%w", err)
	}
	o := config{stdout: os.Stdout, stderr: os.Stderr}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.name == "" {
		o.name = fmt.Sprintf("%s-%d", f.name, started.Add(1))
	}
	if o.stdout == nil {
		o.stdout = io.Discard
	}
	if o.stderr == nil {
		o.stderr = io.Discard
	}
	var hdr bytes.Buffer
	if err := gob.NewEncoder(&hdr).Encode(header{Func: f.name, Name: o.name, Args: enc}); err != nil {
		return nil, errorf("arguments: %w: %w", engine.ErrArgsEncode, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, errorf("%w", err)
	}

	// Three pipes: the child keeps the ends in files, this process the
	// others (closed once the child is reaped, or now on failure).
	var files [6]*os.File // lifeR, lifeW, argsR, argsW, repR, repW
	for i := 0; i < len(files); i += 2 {
		if files[i], files[i+1], err = os.Pipe(); err != nil {
			for _, f := range files[:i] {
				f.Close()
			}
			return nil, errorf("%w: %w", engine.ErrStart, err)
		}
	}
	lifeR, lifeW, argsR, argsW, repR, repW := files[0], files[1], files[2], files[3], files[4], files[5]

	p := &Process{name: o.name, fn: f.name, life: lifeW, hello: make(chan struct{}), done: make(chan struct{})}
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
	cmd.Args = []string{reexec.Argv0(o.name)}
	cmd.Env = reexec.Environ([]string{envProcess + "=" + formatChildEnv(childEnv{life: 3, args: 4, report: 5, ppid: os.Getpid()})}, o.env)
	cmd.ExtraFiles = []*os.File{lifeR, argsR, repW}
	cmd.Stdout = stdout
	cmd.Stderr = p.tail
	cmd.SysProcAttr = reexec.SysProcAttr()
	cmd.WaitDelay = time.Second // a grandchild holding the output pipes does not hold up Wait
	err = reexec.Start(cmd)
	lifeR.Close()
	argsR.Close()
	repW.Close()
	if err != nil {
		lifeW.Close()
		argsW.Close()
		repR.Close()
		return nil, errorf("%w: %w", engine.ErrStart, err)
	}
	p.cmd, p.pid = cmd, cmd.Process.Pid
	go func() {
		// The child reads it all unless it dies, which closes the pipe.
		_, _ = argsW.Write(hdr.Bytes())
		argsW.Close()
	}()
	go p.watch(repR)

	timer := time.NewTimer(engine.DefaultHelloTimeout)
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
		return nil, errorf("%w", ctx.Err())
	case <-timer.C:
		p.abort()
		return nil, errorf("%w: process %q (pid %d) did not start the function within %v (does main call engine.Main() first?)%s",
			engine.ErrStart, p.name, p.pid, engine.DefaultHelloTimeout, reexec.Note("process", p.tail.String()))
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			p.mu.Lock()
			p.ctxErr = ctx.Err()
			p.mu.Unlock()
			_ = p.Terminate()
			t := time.AfterFunc(2*engine.DefaultCancelGrace, func() { _ = p.Kill() })
			go func() { <-p.done; t.Stop() }()
		})
		go func() { <-p.done; stop() }()
	}
	return p, nil
}
