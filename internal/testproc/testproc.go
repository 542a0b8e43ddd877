// Package testproc runs a test binary again as a second process, so that
// tests of cross-process behaviour use real processes and not goroutines.
//
// A package's TestMain calls Main; a test calls Start or Run with a role
// name, and the re-executed binary runs that role instead of the tests. Every
// wait is bounded.
package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// roleVar names the environment variable that selects a child's role.
const roleVar = "SHMPAR_TEST_CHILD"

// Timeout bounds every wait for a child.
const Timeout = 60 * time.Second

// Main runs the tests, or, in a child started by Start, the role's function:
// exit status 0 when it returns nil, 1 (with the error on stderr) otherwise.
func Main(m *testing.M, child func(role string) error) {
	if role := os.Getenv(roleVar); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Child is a running child process.
type Child struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan error
	err  error // from Start
}

// Start runs the test binary in role, with env ("KEY=value") added to this
// process's environment. Its stdout and stderr are collected together.
func Start(role string, env ...string) *Child {
	c := &Child{done: make(chan error, 1)}
	c.cmd = exec.Command("/proc/self/exe", "-test.run=^$")
	c.cmd.Env = append(append(os.Environ(), roleVar+"="+role), env...)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if c.err = c.cmd.Start(); c.err == nil {
		go func() { c.done <- c.cmd.Wait() }()
	}
	return c
}

// PID returns the child's process id, 0 if it did not start.
func (c *Child) PID() int {
	if c.err != nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Wait waits at most Timeout for the child and returns its output and its
// failure, if any; a child that overruns is killed.
func (c *Child) Wait() (string, error) {
	if c.err != nil {
		return "", c.err
	}
	select {
	case err := <-c.done:
		return c.out.String(), err
	case <-time.After(Timeout):
		c.cmd.Process.Kill()
		<-c.done
		return c.out.String(), fmt.Errorf("child timed out after %v", Timeout)
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
	for _, c := range children {
		if out, err := c.Wait(); err != nil {
			t.Fatalf("child %s: %v\n%s", role, err, out)
		}
	}
}
