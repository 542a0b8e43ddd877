package engine

import (
	"context"
	"encoding/gob"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
)

// The spawned side of Spawn: engine.Main finds envSpawned and runs
// runSpawned instead of returning to main.

// inSpawned is set in a process started by Spawn once Main has taken over.
var inSpawned atomic.Bool

// procName is this process's name for ProcessName; nil means "main".
var procName atomic.Pointer[string]

// ProcessName returns the name of the calling process (Python's
// current_process().name): the Name given to Spawn in a process started by
// Spawn, "worker-N" in the worker process of a team running as participant
// N, and "main" in any other process.
func ProcessName() string {
	if p := procName.Load(); p != nil {
		return *p
	}
	return "main"
}

// setProcessIdentity names this process and makes the default slog logger
// write text records to stderr carrying attrs and the pid (the log package
// goes through it too).
func setProcessIdentity(name string, attrs ...any) {
	procName.Store(&name)
	h := slog.NewTextHandler(os.Stderr, nil)
	slog.SetDefault(slog.New(h).With(append(attrs, "pid", os.Getpid())...))
}

// mainSpawned is Main in a process started by Spawn: it runs the function
// and exits.
func mainSpawned(v string) {
	_ = os.Unsetenv(envSpawned) // not inherited by processes the function starts
	inSpawned.Store(true)
	os.Exit(runSpawned(v))
}

// checkNotSpawned ends a process started by Spawn (or a team's worker
// process) that reached Start or Spawn (what) without having called Main:
// it would otherwise run the program's main, and spawn again (a fork bomb).
func checkNotSpawned(what string) {
	_, spawned := os.LookupEnv(envSpawned)
	_, worker := os.LookupEnv(envWorker)
	if (spawned && !inSpawned.Load()) || (worker && !inWorker.Load()) {
		fmt.Fprintf(os.Stderr, "engine: %s called in a process started by engine.Spawn or a team: engine.Main() must be the first call in main (and in TestMain); exiting\n", what)
		os.Exit(exitNoMain)
	}
}

func parseSpawnEnv(v string) (spawnEnv, error) {
	f, err := parseEnvFields("process", v, "life", "args", "report", "ppid")
	e := spawnEnv{life: f.get("life", -1), args: f.get("args", -1), report: f.get("report", -1), ppid: f.get("ppid", 0)}
	if err != nil {
		return e, err
	}
	if e.life < 3 || e.args < 3 || e.report < 3 || e.ppid <= 0 {
		return e, fmt.Errorf("incomplete process environment %q", v)
	}
	return e, nil
}

// maxReportText bounds the message and the stack a process reports.
const maxReportText = 64 << 10

func clip(s string) string {
	if len(s) > maxReportText {
		return s[:maxReportText] + "\n... (truncated)"
	}
	return s
}

func runSpawned(v string) int {
	e, err := parseSpawnEnv(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: spawned process: %v\n", err)
		return exitBadEnv
	}
	// Descendants the function starts must not hold these pipes.
	closeOnExec(e.life, e.args, e.report)
	// The parent may have died before PDEATHSIG was armed.
	if os.Getppid() != e.ppid {
		return exitOrphan
	}
	life := os.NewFile(uintptr(e.life), "shmpar-lifeline")
	go func() {
		var b [16]byte
		for {
			if _, err := life.Read(b[:]); err != nil {
				os.Exit(exitOrphan)
			}
		}
	}()
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
		return exitBadEnv
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
	setProcessIdentity(h.Name, "process", h.Name)

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
			r = spawnReport{Kind: repPanic, Msg: clip(fmt.Sprint(v)), Stack: clip(string(debug.Stack()))}
		}
	}()
	if err := f.run(ctx, args); err != nil {
		return spawnReport{Kind: repErr, Msg: clip(err.Error()), Sentinel: sentinelCode(err)}
	}
	return spawnReport{Kind: repOK}
}
