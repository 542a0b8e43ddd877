package process

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
)

// Process is a process started by Func.Start: Python's
// multiprocessing.Process, started. Its methods may be called from any
// goroutine.
//
// The process dies with this one, even when this one is killed with
// SIGKILL, as if Python's daemon flag were always set: a program that wants
// a process's result waits for it.
type Process struct {
	name string
	fn   string
	pid  int
	cmd  *exec.Cmd
	tail *reexec.Tail
	outs []*prefixWriter // flushed once the output is copied
	life *os.File        // write end of the child's lifeline, closed once it is reaped

	hello chan struct{} // closed when the child reports that the function runs
	done  chan struct{} // closed when the process has exited and been reaped

	mu     sync.Mutex
	ctxErr error // the context passed to Start ended while the process ran

	// Set before done is closed.
	report *report // the last report other than hello
	state  *os.ProcessState
	err    error
}

// abort kills a process that did not start its function and reaps it.
func (p *Process) abort() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(engine.DefaultCloseTimeout):
	}
}

// watch reads the child's reports until the pipe closes, reaps the child
// and publishes the outcome.
func (p *Process) watch(rep *os.File) {
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer rep.Close()
		dec := gob.NewDecoder(rep)
		hello := false
		for {
			var r report
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
	p.life.Close() // the child is gone: its lifeline too
	p.state = p.cmd.ProcessState
	p.err = p.result()
	close(p.done)
}

// exit returns the exit code (-1 for a signal) and the signal that ended
// the process.
func (p *Process) exit() (int, syscall.Signal) {
	if p.state == nil {
		return -1, 0
	}
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	return p.state.ExitCode(), 0
}

func (p *Process) describe() string {
	code, sig := p.exit()
	if sig != 0 {
		return fmt.Sprintf("was killed by signal %d (%v)", int(sig), sig)
	}
	return fmt.Sprintf("exited with status %d", code)
}

// result turns the reports and the exit status into Wait's error.
func (p *Process) result() error {
	code, sig := p.exit()
	e := &Error{Name: p.name, ExitCode: code, Failure: engine.Failure{PID: p.pid, Signal: sig}}
	if r := p.report; r != nil {
		switch r.Kind {
		case repOK:
			return nil
		case repErr:
			e.Err = remote.New(r.Msg, r.Sentinel)
			return e
		case repPanic:
			e.Err, e.Stack = &engine.PanicError{Value: r.Msg}, r.Stack
			return e
		}
	}
	if code == 0 {
		return nil // the function ended the process with os.Exit(0)
	}
	e.Err = fmt.Errorf("%w: it %s", ErrDied, p.describe())
	p.mu.Lock()
	if p.ctxErr != nil {
		e.Err = fmt.Errorf("%w: it %s after the context passed to Start ended (%w)", ErrDied, p.describe(), p.ctxErr)
	}
	p.mu.Unlock()
	e.Output = p.tail.String()
	return e
}

// startError explains why a process exited before it started its function.
func (p *Process) startError() error {
	out := p.tail.String()
	if r := p.report; r != nil && r.Kind == repUnknown {
		return fmt.Errorf("process: start %q: %w: process %q (pid %d): %w: %s", p.fn, engine.ErrStart, p.name, p.pid, ErrUnknownFunc, r.Msg)
	}
	if r := p.report; r != nil && r.Kind == repStartErr {
		return fmt.Errorf("process: start %q: %w: process %q (pid %d): %s", p.fn, engine.ErrStart, p.name, p.pid, r.Msg)
	}
	if code, sig := p.exit(); sig == 0 && (code == reexec.ExitNoMain || code == 0) {
		return fmt.Errorf("process: start %q: process %q (pid %d) %s before it started the function: %w (the new process runs this program again, which must hand over to the engine at once)%s",
			p.fn, p.name, p.pid, p.describe(), engine.ErrNoMain, reexec.Note("process", out))
	}
	return fmt.Errorf("process: start %q: %w: process %q (pid %d) %s before it started the function (does main call engine.Main() first?)%s",
		p.fn, engine.ErrStart, p.name, p.pid, p.describe(), reexec.Note("process", out))
}

// Name returns the process's name (see the Name option).
func (p *Process) Name() string { return p.name }

// PID returns the process id.
func (p *Process) PID() int { return p.pid }

// String describes the process, like Python's repr of a Process:
// `process "fetch-3" (pid 4242, running)`.
func (p *Process) String() string {
	how := "running"
	if !p.Alive() {
		how = p.describe()
	}
	return fmt.Sprintf("process %q (pid %d, %s)", p.name, p.pid, how)
}

// Done returns a channel that is closed when the process has exited (and
// Wait will not block).
func (p *Process) Done() <-chan struct{} { return p.done }

// Alive reports whether the process is still running (Python's is_alive).
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Wait waits for the process to exit (Python's join) and returns nil if its
// function returned nil (or it ended with exit status 0). Otherwise it
// returns a *Error: with the function's error (its text; errors.Is still
// matches context.Canceled and context.DeadlineExceeded), an *engine.PanicError and
// its stack, or an error wrapping ErrDied with the exit status or the
// signal and the tail of the process's stderr. It may be called any number
// of times, from any goroutine.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// WaitContext is Wait bounded by ctx: if ctx ends first it returns an error
// wrapping ctx.Err(), and the process goes on running.
func (p *Process) WaitContext(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("process: wait for %q: %w", p.name, ctx.Err())
	}
}

// ExitCode returns the process's exit status: 0 once its function returned
// nil, 1 when it returned an error or panicked, what it passed to os.Exit
// otherwise; -1 while it runs and when a signal killed it (then Wait's
// *Error has the Signal; Python's exitcode would be its negative).
func (p *Process) ExitCode() int {
	if p.Alive() {
		return -1
	}
	code, _ := p.exit()
	return code
}

// Signal sends sig to the process. It does nothing (and returns nil) once
// the process has exited.
func (p *Process) Signal(sig os.Signal) error {
	if !p.Alive() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("process: signal %q (pid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// Kill kills the process with SIGKILL (Python's kill); Wait then returns a
// *Error with Signal SIGKILL. It does nothing once the process has
// exited.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }

// Terminate asks the process to stop (Python's terminate): it sends
// SIGTERM, which cancels the context its function runs with. A function that
// returns within engine.DefaultCancelGrace ends the process normally (Wait returns
// its error, typically context.Canceled); after that the process dies by
// SIGTERM (Wait returns a *Error with that Signal), as it does at once on
// a second Terminate.
func (p *Process) Terminate() error { return p.Signal(syscall.SIGTERM) }
