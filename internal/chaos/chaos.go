package chaos

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables (see the package doc).
const (
	EnvTrials = "SHMPAR_CHAOS_TRIALS"
	EnvSeed   = "SHMPAR_CHAOS_SEED"
	EnvOnly   = "SHMPAR_CHAOS_TRIAL"
	EnvReport = "SHMPAR_CHAOS_REPORT"

	// EnvTrial is set, during a trial, to a marker unique to the trial;
	// every process started during the trial inherits it, which is how
	// Run finds the processes a trial left behind.
	EnvTrial = "SHMPAR_CHAOS_MARK"
)

// leakWait bounds how long Run waits, after a trial, for the processes and
// descriptors it started to go away before it counts them as leaks;
// unstickWait how long it waits for a hung trial to return after it killed
// the trial's processes. (Variables for the package's own tests.)
var (
	leakWait    = 5 * time.Second
	unstickWait = 15 * time.Second
)

// Scenario is a randomized fault scenario.
type Scenario struct {
	// Name names the scenario in the summary line: "package/what".
	Name string
	// Trials is the number of trials of a default run; a -short run
	// makes a quarter of them (at least one), and SHMPAR_CHAOS_TRIALS
	// overrides both.
	Trials int
	// Timeout bounds one trial; a trial that runs longer is a hang.
	Timeout time.Duration
	// Trial runs one trial.
	Trial func(t *T)
}

// Summary is what Run counted: trials, and how many earned each kind of
// problem.
type Summary struct {
	Name                               string
	Seed                               uint64
	Trials, Hangs, Wrong, Leaks, Crash int
	Elapsed                            time.Duration
	// Counts are the scenario's own tallies (T.Count), summed over the
	// trials: how many faults landed where.
	Counts map[string]int
}

// Line formats the summary as Run prints it, the scenario's own tallies
// last.
func (s Summary) Line() string {
	line := fmt.Sprintf("chaos: %-36s trials=%d hangs=%d wrong=%d leaks=%d crashes=%d seed=%d (%.1fs)",
		s.Name, s.Trials, s.Hangs, s.Wrong, s.Leaks, s.Crash, s.Seed, s.Elapsed.Seconds())
	keys := make([]string, 0, len(s.Counts))
	for k := range s.Counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		line += fmt.Sprintf(" %s=%d", k, s.Counts[k])
	}
	return line
}

// Problems reports whether any trial went wrong.
func (s Summary) Problems() bool { return s.Hangs+s.Wrong+s.Leaks+s.Crash > 0 }

// T is one trial. Its methods other than Rand's may be called from any
// goroutine of the trial.
type T struct {
	// N is the trial's number, from 0.
	N int
	// Rand is the trial's source of randomness, seeded from the run's
	// seed, the scenario's name and N.
	Rand *rand.Rand
	// Dir is a directory of the trial's own, empty at its start, which
	// is SHMPAR_DIR while it runs (the default directory of named
	// segments): what is left in it afterwards is a leak.
	Dir string
	// Marker is the value of EnvTrial during the trial.
	Marker string

	tb testing.TB
	mu sync.Mutex
	// the trial's problems, by kind
	hang, wrong, leak, crash []string
	counts                   map[string]int
}

// Count adds n to the scenario's tally called name, printed in its
// summary line: how many faults landed mid-job, how many chunks were lost.
func (t *T) Count(name string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[name] += n
}

// Hang records a hang the trial saw itself: a wait of its own (in a child
// process it started, say, which bounds its call and reports) that did not
// end within its bound. It counts in the hangs column like a trial that
// overran the scenario's Timeout.
func (t *T) Hang(format string, args ...any) { t.add(&t.hang, format, args) }

// Wrong records a wrong result.
func (t *T) Wrong(format string, args ...any) { t.add(&t.wrong, format, args) }

// Leak records something the trial started that outlived it.
func (t *T) Leak(format string, args ...any) { t.add(&t.leak, format, args) }

// Crash records a process that died where it must not.
func (t *T) Crash(format string, args ...any) { t.add(&t.crash, format, args) }

// Logf logs, in the test's log, for a trial whose details matter.
func (t *T) Logf(format string, args ...any) {
	t.tb.Logf("trial %d: %s", t.N, fmt.Sprintf(format, args...))
}

func (t *T) add(to *[]string, format string, args []any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*to = append(*to, fmt.Sprintf(format, args...))
}

// Duration returns a random duration in [0, max).
func (t *T) Duration(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(t.Rand.Int64N(int64(max)))
}

// Procs returns the live processes that carry the trial's marker (every
// process started during the trial, and their children), not counting
// the calling process.
func (t *T) Procs() []int { return marked(t.Marker) }

// Run runs the trials of scenario s as a subtest of tb named after it,
// prints its summary line and fails the test if a trial went wrong.
func Run(tb *testing.T, s Scenario) Summary {
	tb.Helper()
	var sum Summary
	tb.Run(s.Name, func(tb *testing.T) {
		if s.Trial == nil || s.Timeout <= 0 || s.Name == "" {
			tb.Fatalf("chaos: scenario %q needs a Name, a Timeout and a Trial", s.Name)
		}
		var notes []string
		var err error
		sum, notes, err = runTrials(tb, s)
		if err != nil {
			tb.Fatal(err)
		}
		line := sum.Line()
		tb.Log(line)
		if path := os.Getenv(EnvReport); path != "" {
			if f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
				fmt.Fprintln(f, line)
				f.Close()
			}
		}
		if sum.Problems() {
			tb.Errorf("%s\n%s\nreplay one trial with: %s=%d %s=<trial> go test -tags chaos -run '%s'",
				line, strings.Join(notes, "\n"), EnvSeed, sum.Seed, EnvOnly, tb.Name())
		}
	})
	return sum
}

// runTrials runs the trials of s and returns their summary and notes on
// the trials that went wrong; the error is a bad knob.
func runTrials(tb testing.TB, s Scenario) (Summary, []string, error) {
	seed, err := envUint(EnvSeed, uint64(time.Now().UnixNano()%1e9))
	if err != nil {
		return Summary{}, nil, err
	}
	trials := s.Trials
	if testing.Short() {
		trials = max(1, trials/4)
	}
	n, err := envUint(EnvTrials, uint64(trials))
	if err != nil {
		return Summary{}, nil, err
	}
	trials = int(n)
	only := -1
	if v := os.Getenv(EnvOnly); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return Summary{}, nil, fmt.Errorf("chaos: %s=%q is not a trial number", EnvOnly, v)
		}
		only = n
	}
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	salt := h.Sum64()

	sum := Summary{Name: s.Name, Seed: seed}
	start := time.Now()
	var notes []string
	note := func(format string, args ...any) {
		if len(notes) < 20 {
			notes = append(notes, fmt.Sprintf(format, args...))
		}
	}
	for n := range trials {
		if only >= 0 && n != only {
			continue
		}
		r := trial(tb, s, n, seed, salt)
		sum.Trials++
		for k, v := range r.t.counts {
			if sum.Counts == nil {
				sum.Counts = map[string]int{}
			}
			sum.Counts[k] += v
		}
		if r.hung || len(r.t.hang) > 0 {
			sum.Hangs++
		}
		if r.hung {
			note("trial %d hung (over %v)%s", n, s.Timeout, r.hungMore)
		}
		if len(r.t.hang) > 0 {
			note("trial %d hung: %s", n, strings.Join(r.t.hang, "; "))
		}
		if len(r.t.wrong) > 0 {
			sum.Wrong++
			note("trial %d wrong: %s", n, strings.Join(r.t.wrong, "; "))
		}
		if len(r.t.leak) > 0 {
			sum.Leaks++
			note("trial %d leaked: %s", n, strings.Join(r.t.leak, "; "))
		}
		if len(r.t.crash) > 0 {
			sum.Crash++
			note("trial %d crashed: %s", n, strings.Join(r.t.crash, "; "))
		}
		if r.stuck {
			note("trial %d could not be freed after it hung: the scenario was given up", n)
			break
		}
	}
	sum.Elapsed = time.Since(start)
	return sum, notes, nil
}

type result struct {
	t        *T
	hung     bool
	hungMore string
	stuck    bool
}

// trial runs trial n of s and checks what it left behind.
func trial(tb testing.TB, s Scenario, n int, seed, salt uint64) result {
	base, err := os.MkdirTemp(shmRoot(), "shmpar-chaos-")
	if err != nil {
		tb.Fatalf("chaos: trial directory: %v", err) // cannot run at all
	}
	t := &T{
		N:      n,
		Rand:   rand.New(rand.NewPCG(seed^salt, uint64(n))),
		Dir:    base,
		Marker: fmt.Sprintf("%d.%d.%d.%d", os.Getpid(), seed, salt, n),
		tb:     tb,
	}
	restore := setenv(map[string]string{EnvTrial: t.Marker, "SHMPAR_DIR": t.Dir})
	defer restore()
	fds := openFDs()

	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if e := recover(); e != nil {
				buf := make([]byte, 16<<10)
				t.Crash("panic: %v\n%s", e, buf[:runtime.Stack(buf, false)])
			}
		}()
		s.Trial(t)
	}()
	r := result{t: t}
	select {
	case <-done:
	case <-time.After(s.Timeout):
		r.hung = true
		left := t.Procs()
		r.hungMore = fmt.Sprintf("; its processes %v were killed", left)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-done:
		case <-time.After(unstickWait):
			r.stuck = true
			return r
		}
	}

	// What the trial left behind.
	deadline := time.Now().Add(leakWait)
	for {
		left := t.Procs()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Leak("processes %v still alive %v after the trial", left, leakWait)
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		extra := newFDs(fds, openFDs())
		if len(extra) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Leak("descriptors of the test process not closed: %s", strings.Join(extra, ", "))
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ents, err := os.ReadDir(t.Dir); err == nil && len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Leak("files left in the trial's directory: %s", strings.Join(names, ", "))
	}
	_ = os.RemoveAll(t.Dir)
	return r
}

// shmRoot is where trial directories go: /dev/shm, where segments live by
// default, if it is there.
func shmRoot() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// setenv sets vars and returns what restores them.
func setenv(vars map[string]string) func() {
	old := map[string]*string{}
	for k, v := range vars {
		if o, ok := os.LookupEnv(k); ok {
			old[k] = &o
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

func envUint(key string, def uint64) (uint64, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("chaos: %s=%q is not a number", key, v)
	}
	return n, nil
}

// newFDs lists the descriptors in now that were not open before, as
// "fd→target".
func newFDs(before, now map[int]string) []string {
	var out []string
	for fd, target := range now {
		if b, ok := before[fd]; !ok || b != target {
			out = append(out, fmt.Sprintf("%d→%s", fd, target))
		}
	}
	slices.Sort(out)
	return out
}

// openFDs returns this process's open descriptors and what they point to.
func openFDs() map[int]string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	m := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory read's own descriptor, gone already
		}
		m[fd] = target
	}
	return m
}
