package testproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// roleVar names the environment variable that selects a child's role.
const roleVar = "SHMPAR_TEST_CHILD"

// argsMarker separates the test binary's own flag from a child's arguments.
const argsMarker = "--"

// Timeout bounds every wait for a child: its exit, and each line Expect or
// Line waits for.
const Timeout = 60 * time.Second

// waitTimeout is Timeout, shortened by the package's own tests.
var waitTimeout = Timeout

// waitDelay bounds how long a child's exit waits for its output pipes to
// close (a grandchild that inherited them may hold them open).
const waitDelay = 5 * time.Second

// MainOption configures Main.
type MainOption func(*mainConfig)

type mainConfig struct {
	after []func()
}

// AfterRun makes Main call f after the tests and before the leak check, to
// release what the tests keep for the life of the process on purpose (a
// process-wide cache of mappings, say).
func AfterRun(f func()) MainOption {
	return func(c *mainConfig) { c.after = append(c.after, f) }
}

// Main runs the tests, or, in a child started by Start or Spawn, the role's
// function: exit status 0 when it returns nil, 1 (with the error on stderr)
// otherwise; a role function may also end the process itself with os.Exit.
// child may be nil in a package whose tests start no child of this binary.
//
// After the tests, Main fails the run (exit status 1) if they leaked file
// descriptors or child processes; see the package documentation.
func Main(m *testing.M, child func(role string) error, opts ...MainOption) {
	if role := os.Getenv(roleVar); role != "" {
		os.Exit(runRole(child, role))
	}
	var cfg mainConfig
	for _, o := range opts {
		o(&cfg)
	}
	os.Exit(checked(os.Stderr, m.Run, cfg.after, LeakWait))
}

func runRole(child func(string) error, role string) int {
	if child == nil {
		fmt.Fprintf(os.Stderr, "child: this test binary has no child roles (asked for %q)\n", role)
		return 2
	}
	if err := child(role); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// ChildArgs returns, in a child, the arguments its parent passed with the
// Args option (nil if none).
func ChildArgs() []string {
	for i, a := range os.Args {
		if i > 0 && a == argsMarker {
			return os.Args[i+1:]
		}
	}
	return nil
}

// Option configures a child started by Spawn.
type Option func(*config)

type config struct {
	env   []string
	args  []string
	files []*os.File
}

// Env adds environment variables ("KEY=value") to the child's environment,
// which is otherwise this process's.
func Env(kv ...string) Option { return func(c *config) { c.env = append(c.env, kv...) } }

// Args passes command-line arguments to the child, which reads them with
// ChildArgs.
func Args(args ...string) Option { return func(c *config) { c.args = append(c.args, args...) } }

// Files passes open files to the child as descriptors 3, 4, ... in order.
func Files(f ...*os.File) Option { return func(c *config) { c.files = append(c.files, f...) } }

// Child is a running (or finished) child process: the test binary in a role.
// Its methods may be called from several goroutines.
type Child struct {
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	out     strings.Builder // stdout and stderr, interleaved as they came
	stdout  strings.Builder
	stderr  strings.Builder
	lines   []string      // complete lines of stdout
	partial []byte        // stdout after the last newline
	next    int           // lines already returned by Line or passed by Expect
	changed chan struct{} // closed (and replaced) when output arrives

	exited   chan struct{} // closed once the child was reaped (or failed to start)
	err      error         // why it failed to start, or how it exited
	timedOut bool
}

// Start runs the test binary in role, with env ("KEY=value") added to this
// process's environment. Its stdout and stderr are collected. The caller
// must Wait for it; Spawn does that itself when the test ends.
func Start(role string, env ...string) *Child {
	return start(role, config{env: env})
}

// Spawn starts the test binary in role with the given options, failing the
// test if it cannot be started. When the test ends the child is killed if
// still running and reaped, and, if the test failed, its output is logged.
func Spawn(tb testing.TB, role string, opts ...Option) *Child {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	c := start(role, cfg)
	select {
	case <-c.exited:
		if c.cmd.Process == nil {
			tb.Fatalf("start child %s: %v", role, c.err)
		}
	default:
	}
	tb.Cleanup(func() {
		if !c.Exited() {
			_ = c.Kill()
		}
		_, _ = c.Wait()
		if tb.Failed() {
			tb.Logf("child %s (pid %d) printed:\n%s", role, c.PID(), c.Output())
		}
	})
	return c
}

func start(role string, cfg config) *Child {
	c := &Child{role: role, changed: make(chan struct{}), exited: make(chan struct{})}
	argv := []string{"-test.run=^$"}
	if len(cfg.args) > 0 {
		argv = append(append(argv, argsMarker), cfg.args...)
	}
	c.cmd = exec.Command(executable(), argv...)
	// The race detector sleeps a second at exit unless told otherwise.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	c.cmd.Env = append(append(os.Environ(), roleVar+"="+role, "GORACE="+gorace), cfg.env...)
	c.cmd.ExtraFiles = cfg.files
	c.cmd.Stdout = (*stdoutWriter)(c)
	c.cmd.Stderr = (*stderrWriter)(c)
	c.cmd.WaitDelay = waitDelay
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err == nil {
		err = c.cmd.Start()
	}
	if err != nil {
		c.err = err
		close(c.exited)
		return c
	}
	go func() {
		err := c.cmd.Wait()
		c.mu.Lock()
		if len(c.partial) > 0 {
			c.lines = append(c.lines, string(c.partial))
			c.partial = nil
		}
		c.err = err
		c.mu.Unlock()
		close(c.exited)
	}()
	return c
}

// executable returns the path that runs this test binary again.
func executable() string {
	if _, err := os.Stat("/proc/self/exe"); err == nil {
		return "/proc/self/exe" // stays right even if the file is replaced
	}
	p, _ := os.Executable()
	return p
}

type stdoutWriter Child

func (w *stdoutWriter) Write(b []byte) (int, error) {
	c := (*Child)(w)
	n := len(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(b)
	c.stdout.Write(b)
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			c.partial = append(c.partial, b...)
			break
		}
		c.lines = append(c.lines, string(append(c.partial, b[:i]...)))
		c.partial = c.partial[:0]
		b = b[i+1:]
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return n, nil
}

type stderrWriter Child

func (w *stderrWriter) Write(b []byte) (int, error) {
	c := (*Child)(w)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(b)
	c.stderr.Write(b)
	return len(b), nil
}

// Wait waits at most Timeout for the child to exit and returns its output
// (stdout and stderr) and its failure, if any: a start error, an
// *exec.ExitError, or a timeout, after which the child is killed. Wait may be
// called again; it returns the same.
func (c *Child) Wait() (string, error) {
	select {
	case <-c.exited:
	case <-time.After(waitTimeout):
		c.mu.Lock()
		c.timedOut = true
		c.mu.Unlock()
		_ = c.Kill()
		<-c.exited // SIGKILL ends it; waitDelay bounds the pipes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timedOut {
		return c.out.String(), fmt.Errorf("child %s timed out after %v and was killed", c.role, waitTimeout)
	}
	return c.out.String(), c.err
}

// WaitOK waits for the child like Wait, fails the test unless it exited with
// status 0, and returns its output.
func (c *Child) WaitOK(tb testing.TB) string {
	tb.Helper()
	out, err := c.Wait()
	if err != nil {
		tb.Fatalf("child %s: %v\n%s", c.role, err, out)
	}
	return out
}

// Exited reports whether the child has exited and been reaped.
func (c *Child) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// ExitCode returns the child's exit status once it exited (see Wait), and
// -1 before, or when it was killed by a signal or never started.
func (c *Child) ExitCode() int {
	if !c.Exited() || c.cmd.ProcessState == nil {
		return -1
	}
	return c.cmd.ProcessState.ExitCode()
}

// Kill sends the child SIGKILL and returns without waiting; Wait reaps it.
// Killing a child that already exited does nothing.
func (c *Child) Kill() error {
	if c.cmd.Process == nil {
		return fmt.Errorf("kill child %s: it never started: %w", c.role, c.err)
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill child %s: %w", c.role, err)
	}
	return nil
}

// PID returns the child's process id (0 if it never started).
func (c *Child) PID() int {
	if c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// CloseStdin closes the child's standard input: a child that reads it to the
// end goes on. Closing it again, or after the child exited, does nothing.
func (c *Child) CloseStdin() error {
	if c.stdin == nil {
		return nil
	}
	if err := c.stdin.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close stdin of child %s: %w", c.role, err)
	}
	return nil
}

// Output returns what the child printed so far, stdout and stderr
// interleaved.
func (c *Child) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// Stdout returns what the child printed on stdout so far.
func (c *Child) Stdout() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stdout.String()
}

// Stderr returns what the child printed on stderr so far.
func (c *Child) Stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// Line returns the child's next line of stdout (without the newline),
// failing the test if none comes within Timeout or the child exits first.
func (c *Child) Line(tb testing.TB) string {
	tb.Helper()
	line, err := c.nextLine(waitTimeout)
	if err != nil {
		tb.Fatalf("child %s: reading its next line: %v\n%s", c.role, err, c.Output())
	}
	return line
}

// Expect waits until the child prints the line want on stdout, skipping
// other lines, and fails the test if it does not within Timeout or exits
// first.
func (c *Child) Expect(tb testing.TB, want string) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		line, err := c.nextLine(time.Until(deadline))
		if err != nil {
			tb.Fatalf("child %s: waiting for the line %q: %v\n%s", c.role, want, err, c.Output())
			return
		}
		if line == want {
			return
		}
	}
}

var (
	errExited  = errors.New("the child exited")
	errNoLines = errors.New("timed out")
)

// nextLine returns the next unread line of stdout, waiting at most limit.
func (c *Child) nextLine(limit time.Duration) (string, error) {
	timer := time.NewTimer(max(limit, 0))
	defer timer.Stop()
	for {
		c.mu.Lock()
		if c.next < len(c.lines) {
			line := c.lines[c.next]
			c.next++
			c.mu.Unlock()
			return line, nil
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-c.exited:
			c.mu.Lock()
			more := c.next < len(c.lines)
			err := c.err
			c.mu.Unlock()
			if more {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("%w: %w", errExited, err)
			}
			return "", errExited
		case <-timer.C:
			return "", fmt.Errorf("%w after %v", errNoLines, limit)
		}
	}
}

// Run runs the test binary in role, waits for it, and returns its output;
// it fails the test if the child fails.
func Run(t testing.TB, role string, env ...string) string {
	t.Helper()
	out, err := Start(role, env...).Wait()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", role, err, out)
	}
	return out
}

// RunN runs n children in role at once and fails the test if any fails.
func RunN(t testing.TB, n int, role string, env ...string) {
	t.Helper()
	children := make([]*Child, n)
	for i := range children {
		children[i] = Start(role, env...)
	}
	var failed []string
	for _, c := range children {
		if out, err := c.Wait(); err != nil {
			failed = append(failed, fmt.Sprintf("child %s (pid %d): %v\n%s", role, c.PID(), err, out))
		}
	}
	if len(failed) > 0 {
		t.Fatal(strings.Join(failed, "\n"))
	}
}
