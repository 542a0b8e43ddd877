package reexec

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Worker is the name of the role of a team's worker processes.
const Worker = "worker"

// Exit codes of a child that ends before it runs its role.
const (
	ExitNoMain  = 86 // Guard was reached in a child: the program does not call engine.Main first
	ExitBadEnv  = 87 // the role's environment is invalid
	ExitOrphan  = 88 // the parent is gone
	ExitProblem = 89 // the role's shared state cannot be opened
)

// Role is a kind of child process.
type Role struct {
	// Name names the role in messages ("worker", "process").
	Name string
	// Env is the environment variable that marks a child of this role; its
	// value is the role's own ("v1;key=n;...", see ParseFields).
	Env string
	// Run runs the role in the child with the variable's value and returns
	// the process's exit status.
	Run func(v string) int
}

var (
	roles   []Role
	current atomic.Pointer[string]
)

// Register adds a role. Call it from an init function.
func Register(r Role) {
	if r.Name == "" || r.Env == "" || r.Run == nil {
		panic(fmt.Sprintf("reexec: incomplete role %+v", r))
	}
	for _, o := range roles {
		if o.Name == r.Name || o.Env == r.Env {
			panic(fmt.Sprintf("reexec: role %q registered twice", r.Name))
		}
	}
	roles = append(roles, r)
}

// Main runs the role this process was started for, if any, and exits with
// its status; it returns at once in any other process. The role's variable
// is removed from the environment first, so the processes the role starts
// in turn do not inherit it.
func Main() {
	for _, r := range roles {
		v, ok := os.LookupEnv(r.Env)
		if !ok {
			continue
		}
		_ = os.Unsetenv(r.Env)
		name := r.Name
		current.Store(&name)
		nameProcess(os.Args[0]) // "PROGRAM: ROLE" (see Argv0)
		os.Exit(r.Run(v))
	}
}

// Current returns the role this process runs, "" in a process shmpar did
// not start (or one whose main did not call engine.Main).
func Current() string {
	if p := current.Load(); p != nil {
		return *p
	}
	return ""
}

// Guard ends a child that reached what — a call that starts processes,
// such as engine.Start — without having run its role: its program does not
// call engine.Main first, so it runs main again, and would start children
// of its own (a fork bomb). The parent sees the child exit with ExitNoMain
// and its message on stderr.
func Guard(what string) {
	if Current() != "" {
		return
	}
	for _, r := range roles {
		if _, ok := os.LookupEnv(r.Env); ok {
			fmt.Fprintf(os.Stderr, "engine: %s called in a process shmpar started (a %s): engine.Main() must be the first call in main (and in TestMain); exiting\n", what, r.Name)
			os.Exit(ExitNoMain)
		}
	}
}

// Fields are the integer fields of a role's variable, "v1;key=n;...".
type Fields map[string]int

// Get returns the field key, or def when it is absent.
func (f Fields) Get(key string, def int) int {
	if n, ok := f[key]; ok {
		return n
	}
	return def
}

// ParseFields parses "v1;key=n;..." accepting only the given keys; what
// names the role in errors.
func ParseFields(what, v string, keys ...string) (Fields, error) {
	f := Fields{}
	parts := strings.Split(v, ";")
	if parts[0] != "v1" {
		return f, fmt.Errorf("unknown %s protocol %q", what, v)
	}
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(val)
		if !ok || err != nil {
			return f, fmt.Errorf("bad field %q in %q", kv, v)
		}
		if !slices.Contains(keys, k) {
			return f, fmt.Errorf("unknown field %q in %q", k, v)
		}
		f[k] = n
	}
	return f, nil
}

// Environ returns the environment of a child: this process's, without any
// role's variable and without the keys that set ("KEY=value" entries)
// replaces, then set, a GORACE that makes a -race child exit without
// lingering a second, then extra (the caller's additions, last so that they
// win).
func Environ(set, extra []string) []string {
	env := make([]string, 0, len(os.Environ())+len(set)+len(extra)+1)
	gorace := ""
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if key == "GORACE" {
			gorace = strings.TrimPrefix(kv, "GORACE=") + " "
			continue
		}
		if slices.ContainsFunc(roles, func(r Role) bool { return r.Env == key }) ||
			slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, key+"=") }) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, set...)
	if raceEnabled {
		gorace += "atexit_sleep_ms=0"
	}
	if gorace = strings.TrimSpace(gorace); gorace != "" {
		env = append(env, "GORACE="+gorace)
	}
	return append(env, extra...)
}

// WatchParent makes a child die with its parent: it returns false at once
// if the parent is already gone (its pid is not ppid: it died before
// PDEATHSIG was armed), and otherwise watches the lifeline, a pipe whose
// write end only the parent holds, exiting with ExitOrphan at its EOF (which
// comes even where PDEATHSIG does not fire, golang/go#27505).
func WatchParent(ppid, lifeline int) bool {
	if os.Getppid() != ppid {
		return false
	}
	life := os.NewFile(uintptr(lifeline), "shmpar-lifeline")
	go func() {
		var b [16]byte
		for {
			if _, err := life.Read(b[:]); err != nil {
				os.Exit(ExitOrphan)
			}
		}
	}()
	return true
}

var name atomic.Pointer[string]

// SetName names this process (see Name) and makes the default slog logger
// write text records to stderr carrying attrs and the pid (the log package
// goes through it too).
func SetName(n string, attrs ...any) {
	name.Store(&n)
	h := slog.NewTextHandler(os.Stderr, nil)
	slog.SetDefault(slog.New(h).With(append(attrs, "pid", os.Getpid())...))
}

// Name returns the name SetName gave this process, "main" if none.
func Name() string {
	if p := name.Load(); p != nil {
		return *p
	}
	return "main"
}
