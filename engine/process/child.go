package process

import (
	"context"
	"encoding/gob"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
)

// The child's side: engine.Main finds envProcess and runs runChild instead
// of returning to main.

func init() {
	reexec.Register(reexec.Role{Name: "process", Env: envProcess, Run: runChild})
}

func parseChildEnv(v string) (childEnv, error) {
	f, err := reexec.ParseFields("process", v, "life", "args", "report", "ppid")
	e := childEnv{life: f.Get("life", -1), args: f.Get("args", -1), report: f.Get("report", -1), ppid: f.Get("ppid", 0)}
	if err != nil {
		return e, err
	}
	if e.life < 3 || e.args < 3 || e.report < 3 || e.ppid <= 0 {
		return e, fmt.Errorf("incomplete process environment %q", v)
	}
	return e, nil
}

func runChild(v string) int {
	e, err := parseChildEnv(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "process: %v\n", err)
		return reexec.ExitBadEnv
	}
	// Descendants the function starts must not hold these pipes.
	closeOnExec(e.life, e.args, e.report)
	if !reexec.WatchParent(e.ppid, e.life) {
		return reexec.ExitOrphan
	}
	// Ctrl-C reaches the whole process group: the parent decides (and
	// terminates its processes through the context passed to Start).
	signal.Ignore(syscall.SIGINT)

	rep := os.NewFile(uintptr(e.report), "shmpar-report")
	enc := gob.NewEncoder(rep)
	send := func(r report) { _ = enc.Encode(r) }
	fail := func(kind uint8, format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		send(report{Kind: kind, Msg: msg})
		fmt.Fprintf(os.Stderr, "process: %s\n", msg)
		return reexec.ExitBadEnv
	}

	argsF := os.NewFile(uintptr(e.args), "shmpar-args")
	var h header
	err = gob.NewDecoder(argsF).Decode(&h)
	argsF.Close()
	if err != nil {
		return fail(repStartErr, "read the function and its arguments: %v", err)
	}
	f, ok := funcs.Lookup(h.Func)
	if !ok {
		return fail(repUnknown, "%q is not registered in the new process (register process functions at package initialization, before engine.Main runs)", h.Func)
	}
	args, err := f.args.Decode(h.Args)
	if err != nil {
		return fail(repStartErr, "function %q: arguments: %v", h.Func, err)
	}
	reexec.SetName(h.Name, "process", h.Name)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchTerminate(cancel)
	send(report{Kind: repHello})
	r := call(ctx, f, args)
	send(r)
	rep.Close()
	if r.Kind == repOK {
		return 0
	}
	return 1
}

// watchTerminate cancels the function's context at the first SIGTERM; at a
// second one, or engine.DefaultCancelGrace after the first, the process
// dies by SIGTERM.
func watchTerminate(cancel context.CancelFunc) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		cancel()
		select {
		case <-sig:
		case <-time.After(engine.DefaultCancelGrace):
		}
		signal.Reset(syscall.SIGTERM)
		raiseSignal(syscall.SIGTERM)
	}()
}

// call runs the function and turns its outcome into a report.
func call(ctx context.Context, f *fn, args any) (r report) {
	defer func() {
		if v := recover(); v != nil {
			r = report{Kind: repPanic, Msg: remote.Clip(fmt.Sprint(v)), Stack: remote.Clip(string(debug.Stack()))}
		}
	}()
	if err := f.run(ctx, args); err != nil {
		return report{Kind: repErr, Msg: remote.Clip(err.Error()), Sentinel: remote.Code(err)}
	}
	return report{Kind: repOK}
}
