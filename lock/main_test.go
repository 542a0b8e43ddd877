//go:build linux

package lock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Multi-process tests re-execute the test binary (see testproc); these
// variables pass a child the shared file and its arguments.
const (
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

// children maps a role name to the function a child process runs over the
// shared file; an error fails the child.
var children = map[string]func(mem []byte, args []string) error{}

func TestMain(m *testing.M) {
	// In a process started by engine/process (or a team or pool worker)
	// Main runs its role and exits; in the test binary it returns at once.
	engine.Main()
	// Decoded Shared handles map their segments through shm.Attach's cache;
	// those whose creator closed them are released before the leak check.
	testproc.Main(m, runChild, testproc.AfterRun(func() { shm.ReleaseUnlinked() }))
}

func runChild(role string) error {
	fn, ok := children[role]
	if !ok {
		return fmt.Errorf("unknown child role %q", role)
	}
	mem, err := mapFile(os.Getenv(envPath))
	if err != nil {
		return err
	}
	var args []string
	if a := os.Getenv(envArgs); a != "" {
		args = strings.Split(a, ",")
	}
	if err := fn(mem, args); err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	return nil
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
type child = testproc.Child

// startChild starts the test binary in role over the shared file s, with
// args; the child is killed and reaped when the test ends.
func startChild(tb testing.TB, s *shared, role string, args ...any) *child {
	tb.Helper()
	strs := make([]string, len(args))
	for i, a := range args {
		strs[i] = fmt.Sprint(a)
	}
	return testproc.Spawn(tb, role, testproc.Env(envPath+"="+s.path, envArgs+"="+strings.Join(strs, ",")))
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

// waitAsleep waits until n goroutines of this process sleep in the kernel on
// the futex word w, failing the test if they never do.
func waitAsleep(tb testing.TB, n int, w *uint32) {
	tb.Helper()
	testproc.WaitAsleep(tb, n, os.Getpid(), uintptr(unsafe.Pointer(w)))
}

// cancelWhenAsleep calls cancel, from another goroutine, once n goroutines of
// this process sleep on the futex word w; the returned function, called after
// the cancelled call returned, fails the test if they never slept.
func cancelWhenAsleep(tb testing.TB, n int, w *uint32, cancel func()) (check func()) {
	done := testproc.WhenAsleep(n, os.Getpid(), uintptr(unsafe.Pointer(w)), cancel)
	return func() {
		tb.Helper()
		require.NoError(tb, done())
	}
}

// waitChildAsleep waits until child k sleeps in the kernel on the futex word
// of the primitive at offset off of s (mapped at another address there).
func (s *shared) waitChildAsleep(tb testing.TB, k *child, off int) {
	tb.Helper()
	var base uintptr
	testproc.WaitFor(tb, "the child to map the shared file", func() bool {
		b, err := testproc.MappedAt(k.PID(), s.path)
		base = b
		return err == nil
	})
	// The futex word is the low half of the primitive's first 64-bit word.
	word := uintptr(unsafe.Pointer(lowHalf(unsafe.Pointer(&s.mem[off])))) - uintptr(unsafe.Pointer(&s.mem[0]))
	testproc.WaitAsleep(tb, 1, k.PID(), base+word)
}
