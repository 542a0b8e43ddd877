package teamtest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/proc"
)

// Timeout bounds every wait of a test on another process.
const Timeout = 60 * time.Second

// Ctx returns a context that ends after Timeout or with the test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// Array returns an anonymous shared array of n elements (at least one),
// closed when the test ends.
func Array[T array.Element](t testing.TB, n int) *array.Array[T] {
	t.Helper()
	a, err := array.CreateAnon[T](max(n, 1))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a
}

// Team starts a team with opts that the test's end closes (and requires to
// close cleanly).
func Team(t testing.TB, opts ...engine.TeamOption) *engine.Team {
	t.Helper()
	team, err := engine.Start(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, team.Close()) })
	return team
}

// Shape is a team configuration tests run on, with its name for t.Run.
type Shape struct {
	Name    string
	Workers int
	Primary bool
	Backend engine.Backend
}

// Opts returns the options that start a team of shape s, followed by more.
func (s Shape) Opts(more ...engine.TeamOption) []engine.TeamOption {
	return append([]engine.TeamOption{engine.Workers(s.Workers), engine.Primary(s.Primary), s.Backend}, more...)
}

// Shapes are the team shapes most tests run on: a process team, one whose
// coordinator takes part (Primary), and a goroutine team.
var Shapes = []Shape{
	{Name: "process", Workers: 2, Backend: engine.Process},
	{Name: "process-primary", Workers: 3, Primary: true, Backend: engine.Process},
	{Name: "goroutine", Workers: 3, Backend: engine.Goroutine},
}

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// EnvReport names the environment variable that tells a child the file to
// report to.
const EnvReport = "SHMPAR_TEST_REPORT"

// Report writes lines, then "ready", to the file named by EnvReport, in one
// write: a child calls it once it is in the state the test waits for.
func Report(lines ...string) error {
	return os.WriteFile(os.Getenv(EnvReport), []byte(strings.Join(append(lines, "ready"), "\n")+"\n"), 0o600)
}

// AwaitReport waits (at most Timeout) until the file at path holds a
// complete report and returns its lines before "ready".
func AwaitReport(t testing.TB, path string) []string {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		b, err := os.ReadFile(path)
		if s := string(b); err == nil && strings.HasSuffix(s, "ready\n") {
			lines := strings.Split(strings.TrimSuffix(s, "ready\n"), "\n")
			return lines[:len(lines)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report in %s after %v (%q, %v)", path, Timeout, b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AwaitGone waits until process pid has exited (a zombie counts as gone),
// and fails the test if it is still there after d.
func AwaitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		alive, err := proc.Alive(proc.ID{PID: pid})
		require.NoError(t, err)
		if !alive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after %v", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
