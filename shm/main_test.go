//go:build linux

package shm

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// childEnv selects a child role when the test binary re-executes itself.
const childEnv = "SHMPAR_TEST_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	// Open the runtime's poller descriptors now, so they do not count as leaks.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before := openFDs()
	code := m.Run()
	releaseAll()
	if leaked := newFDs(before); code == 0 && len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "shm tests leaked file descriptors: %s\n", strings.Join(leaked, ", "))
		code = 1
	}
	os.Exit(code)
}

// openFDs returns this process's open descriptors and what they point to.
func openFDs() map[string]string {
	fds := map[string]string{}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fds
	}
	for _, e := range entries {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil {
			fds[e.Name()] = link
		}
	}
	return fds
}

// newFDs lists descriptors open now that were not open before (ignoring the
// one ReadDir used).
func newFDs(before map[string]string) []string {
	var out []string
	for fd, link := range openFDs() {
		if before[fd] != link && !strings.HasPrefix(link, "/proc/") {
			out = append(out, fd+" -> "+link)
		}
	}
	slices.Sort(out)
	return out
}

// child is a running re-execution of the test binary in some role.
type child struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	stdin io.WriteCloser
}

// startChild starts the test binary in role with env ("K=V") and extra
// files (fd 3, 4, ...). It is killed at the end of the test if still running.
func startChild(t *testing.T, role string, env []string, files ...*os.File) *child {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	// GORACE: a race-enabled child would otherwise sleep 1 s at exit.
	cmd.Env = append(append(os.Environ(), childEnv+"="+role, "GORACE=atexit_sleep_ms=0"), env...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		stdin.Close()
		cmd.Wait()
	})
	return &child{cmd: cmd, out: bufio.NewReader(stdout), stdin: stdin}
}

// line reads the child's next line of output, failing after 30 s.
func (c *child) line(t *testing.T) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- result{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		require.NoError(t, r.err, "reading the child's output")
		return r.s
	case <-time.After(30 * time.Second):
		t.Fatal("child printed nothing within 30 s")
		return ""
	}
}

// wait waits for the child to exit (bounded by its context) and requires
// success.
func (c *child) wait(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	require.NoError(t, c.cmd.Wait())
}

// runChild is the body of the child process for role; it returns the exit
// status. Results go to stdout, one line each.
func runChild(role string) int {
	err := func() error {
		switch role {
		case "write": // open a named segment, check the parent's pattern, write ours
			s, err := Open(os.Getenv("SHM_NAME"), Dir(os.Getenv("SHM_DIR")))
			if err != nil {
				return err
			}
			defer s.Close()
			if err := checkPattern(s.Data(), 1); err != nil {
				return err
			}
			fillPattern(s.Data(), 2)
			fmt.Println("ok")
		case "inherit": // a memfd segment inherited as fd 3
			f := os.NewFile(3, "inherited")
			s, err := OpenFile(f)
			f.Close()
			if err != nil {
				return err
			}
			defer s.Close()
			if err := checkPattern(s.Data(), 1); err != nil {
				return err
			}
			fillPattern(s.Data(), 2)
			fmt.Println("ok", s.Name(), s.Meta().Kind)
		case "attach": // attach to a path twice; expect one mapping
			s, err := Attach(os.Getenv("SHM_PATH"))
			if err != nil {
				return err
			}
			s2, err := Attach(os.Getenv("SHM_PATH"))
			if err != nil {
				return err
			}
			if s != s2 {
				return fmt.Errorf("Attach returned two segments for one path")
			}
			if err := checkPattern(s.Data(), 1); err != nil {
				return err
			}
			fillPattern(s.Data(), 2)
			fmt.Println("ok", s.Name())
		case "create-and-wait": // create segments, then wait to be killed
			dir := os.Getenv("SHM_DIR")
			m := Meta{DType: Float64, Shape: []int{100}, Kind: KindArray}
			for _, c := range []struct {
				name string
				opts []Option
			}{{"leaked", nil}, {"kept", []Option{Persistent()}}} {
				if _, err := Create(c.name, m, append(c.opts, Dir(dir))...); err != nil {
					return err
				}
			}
			fmt.Println("ready")
			io.Copy(io.Discard, os.Stdin) // until the parent kills us or closes stdin
		case "anon-hold": // create an anonymous segment and hold it until stdin closes
			s, err := CreateAnon("held", Meta{DType: Uint8, Shape: []int{10000}})
			if err != nil {
				return err
			}
			fillPattern(s.Data(), 1)
			fmt.Println(s.Path())
			io.Copy(io.Discard, os.Stdin)
			s.Close()
		default:
			return fmt.Errorf("unknown child role %q", role)
		}
		return nil
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		return 1
	}
	return 0
}

// fillPattern writes a pattern that depends on seed into b.
func fillPattern(b []byte, seed int) {
	for i := range b {
		b[i] = byte(i*seed + seed)
	}
}

// checkPattern reports whether b holds fillPattern(b, seed).
func checkPattern(b []byte, seed int) error {
	for i := range b {
		if b[i] != byte(i*seed+seed) {
			return fmt.Errorf("byte %d is %d, want %d (pattern %d)", i, b[i], byte(i*seed+seed), seed)
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
