package engine

import (
	"context"
	"encoding/gob"
	"fmt"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

// The spawned side of Spawn: engine.Main finds envSpawned and runs
// runSpawned instead of returning to main.

func init() {
	reexec.Register(reexec.Role{Name: "process", Env: envSpawned, Run: runSpawned})
}

// ProcessName returns the name of the calling process (Python's
// current_process().name): the Name given to Spawn in a process started by
// Spawn, "worker-N" in the worker process of a team running as participant
// N, and "main" in any other process.
func ProcessName() string { return reexec.Name() }

func parseSpawnEnv(v string) (spawnEnv, error) {
	f, err := reexec.ParseFields("process", v, "life", "args", "report", "ppid")
	e := spawnEnv{life: f.Get("life", -1), args: f.Get("args", -1), report: f.Get("report", -1), ppid: f.Get("ppid", 0)}
	if err != nil {
		return e, err
	}
	if e.life < 3 || e.args < 3 || e.report < 3 || e.ppid <= 0 {
		return e, fmt.Errorf("incomplete process environment %q", v)
	}
	return e, nil
}

func runSpawned(v string) int {
	e, err := parseSpawnEnv(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: spawned process: %v\n", err)
		return reexec.ExitBadEnv
	}
	// Descendants the function starts must not hold these pipes.
	closeOnExec(e.life, e.args, e.report)
	if !reexec.WatchParent(e.ppid, e.life) {
		return reexec.ExitOrphan
	}
	// Ctrl-C reaches the whole process group: the parent decides (and
	// terminates its processes through the context passed to Spawn).
	signal.Ignore(syscall.SIGINT)

	rep := os.NewFile(uintptr(e.report), "shmpar-report")
	enc := gob.NewEncoder(rep)
	send := func(r spawnReport) { _ = enc.Encode(r) }
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		send(spawnReport{Kind: repStartErr, Msg: msg})
		fmt.Fprintf(os.Stderr, "engine: spawned process: %s\n", msg)
		return reexec.ExitBadEnv
	}

	argsF := os.NewFile(uintptr(e.args), "shmpar-args")
	var h spawnHeader
	err = gob.NewDecoder(argsF).Decode(&h)
	argsF.Close()
	if err != nil {
		return fail("read the function and its arguments: %v", err)
	}
	f := lookupSpawnFunc(h.Func)
	if f == nil {
		return fail("%v %q in the new process (process functions must be registered in init, before engine.Main runs)", ErrUnknownProcessFunc, h.Func)
	}
	args, err := f.decode(h.Args)
	if err != nil {
		return fail("%v", err)
	}
	reexec.SetName(h.Name, "process", h.Name)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchTerminate(cancel)
	send(spawnReport{Kind: repHello})
	r := callSpawned(ctx, f, args)
	send(r)
	rep.Close()
	if r.Kind == repOK {
		return 0
	}
	return 1
}

// watchTerminate cancels the function's context at the first SIGTERM; at a
// second one, or DefaultCancelGrace after the first, the process dies by
// SIGTERM.
func watchTerminate(cancel context.CancelFunc) {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		cancel()
		select {
		case <-sig:
		case <-time.After(DefaultCancelGrace):
		}
		signal.Reset(syscall.SIGTERM)
		raiseSignal(syscall.SIGTERM)
	}()
}

// callSpawned runs the function and turns its outcome into a report.
func callSpawned(ctx context.Context, f *spawnFunc, args any) (r spawnReport) {
	defer func() {
		if v := recover(); v != nil {
			r = spawnReport{Kind: repPanic, Msg: remote.Clip(fmt.Sprint(v)), Stack: remote.Clip(string(debug.Stack()))}
		}
	}()
	if err := f.run(ctx, args); err != nil {
		return spawnReport{Kind: repErr, Msg: remote.Clip(err.Error()), Sentinel: remote.Code(err)}
	}
	return spawnReport{Kind: repOK}
}
