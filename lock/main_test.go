//go:build linux

package lock

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Multi-process tests re-execute the test binary; these variables select the
// child's role and pass it the shared file and its arguments.
const (
	envRole = "SHMPAR_TEST_CHILD"
	envPath = "SHMPAR_TEST_SHM"
	envArgs = "SHMPAR_TEST_ARGS"
)

// sharedSize is the size of every test's shared file.
const sharedSize = 1 << 16

// Offsets in the shared file used by the tests.
const (
	offMutex   = 0    // a Mutex
	offCounter = 64   // a plain uint64 protected by the Mutex
	offFlag    = 128  // an atomic uint32: "child is ready / holds the lock"
	offGo      = 192  // an atomic uint32: "start now"
	offAux     = 256  // test specific
	offPrim    = 1024 // a second primitive (Semaphore, Barrier, ...)
)

// children maps a role name to the function a child process runs; it returns
// the child's exit status (0 for success) and prints failures on stdout.
var children = map[string]func(mem []byte, args []string) error{}

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

func runChild(role string) int {
	fn, ok := children[role]
	if !ok {
		fmt.Printf("unknown child role %q\n", role)
		return 2
	}
	mem, err := mapFile(os.Getenv(envPath))
	if err != nil {
		fmt.Println(err)
		return 2
	}
	var args []string
	if a := os.Getenv(envArgs); a != "" {
		args = strings.Split(a, ",")
	}
	if err := fn(mem, args); err != nil {
		fmt.Printf("child %s: %v\n", role, err)
		return 1
	}
	return 0
}

func mapFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return unix.Mmap(int(f.Fd()), 0, sharedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// shared is a file mapped MAP_SHARED by the test and its children.
type shared struct {
	path string
	mem  []byte
}

func newShared(tb testing.TB) *shared {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "shared")
	require.NoError(tb, os.WriteFile(path, make([]byte, sharedSize), 0o600))
	mem, err := mapFile(path)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = unix.Munmap(mem) })
	return &shared{path: path, mem: mem}
}

func (s *shared) u32(off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&s.mem[off])) }
func (s *shared) u64(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&s.mem[off])) }
func (s *shared) plain(off int) *uint64      { return (*uint64)(unsafe.Pointer(&s.mem[off])) }

func memU32(mem []byte, off int) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Pointer(&mem[off])) }
func memU64(mem []byte, off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&mem[off])) }

// child is a running child process.
type child struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func startChild(tb testing.TB, s *shared, role string, args ...any) *child {
	tb.Helper()
	strs := make([]string, len(args))
	for i, a := range args {
		strs[i] = fmt.Sprint(a)
	}
	c := &child{done: make(chan error, 1)}
	c.cmd = exec.Command("/proc/self/exe", "-test.run=^$")
	c.cmd.Env = append(os.Environ(), envRole+"="+role, envPath+"="+s.path, envArgs+"="+strings.Join(strs, ","))
	c.cmd.Stdout = &c.out
	c.cmd.Stderr = &c.out
	require.NoError(tb, c.cmd.Start())
	go func() { c.done <- c.cmd.Wait() }()
	tb.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
		}
	})
	return c
}

// wait waits (bounded) for the child to exit and fails the test unless it
// exited with status 0.
func (c *child) wait(tb testing.TB) {
	tb.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		require.NoError(tb, err, "child output:\n%s", c.out.String())
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		tb.Fatalf("child did not exit in time; output:\n%s", c.out.String())
	}
}

// kill SIGKILLs the child without reaping it (it stays a zombie until the
// Wait goroutine reaps it).
func (c *child) kill(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, c.cmd.Process.Signal(unix.SIGKILL))
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// childWaitFor is waitFor for children.
func childWaitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
	return nil
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// deadline returns a context that expires after d, cancelled at cleanup.
func deadline(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func unsafePointer(mem []byte, off int) unsafe.Pointer { return unsafe.Pointer(&mem[off]) }
