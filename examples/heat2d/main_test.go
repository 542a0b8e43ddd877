package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// The child role "main" runs heat2d's main with the arguments in envArgs
// (space-separated), after writing its pid to the file named by envPID: the
// child process that the tests kill.
const (
	envArgs = "HEAT2D_TEST_ARGS"
	envPID  = "HEAT2D_TEST_PID"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error {
		if role != "main" {
			return fmt.Errorf("unknown role %q", role)
		}
		if f := os.Getenv(envPID); f != "" { // not under mpirun, where every rank runs this
			if err := os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
				return err
			}
		}
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv(envArgs))...)
		main() // exits
		return nil
	})
}

// heat2d runs the command in-process.
func heat2d(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// child is heat2d's main running in a child process.
type child struct {
	c    *testproc.Child
	id   proc.ID
	once sync.Once
	out  string
	err  error
}

// start starts heat2d's main in a child process with env added to its
// environment; the test's end kills it if it still runs.
func start(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ch := &child{c: testproc.Start("main", append(env, envArgs+"="+strings.Join(args, " "), envPID+"="+pidFile)...)}
	t.Cleanup(func() { ch.kill(); ch.wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			require.NoError(t, err)
			ch.id.PID = pid
			ch.id.Start, _ = proc.StartTime(pid)
			return ch
		}
		if time.Now().After(deadline) {
			ch.kill()
			out, err := ch.wait()
			t.Fatalf("the child did not start in 30 s: %v\n%s", err, out)
		}
		time.Sleep(time.Millisecond)
	}
}

// kill kills the child with SIGKILL if it is still the process that
// started (its pid is not reused).
func (ch *child) kill() {
	if alive, _ := proc.Alive(ch.id); alive {
		_ = syscall.Kill(ch.id.PID, syscall.SIGKILL)
	}
}

// wait waits for the child (testproc bounds the wait) and returns its
// output and how it failed; it may be called again.
func (ch *child) wait() (string, error) {
	ch.once.Do(func() { ch.out, ch.err = ch.c.Wait() })
	return ch.out, ch.err
}

// stuck kills the child and fails the test with its output.
func (ch *child) stuck(t *testing.T, what string) {
	t.Helper()
	ch.kill()
	out, err := ch.wait()
	t.Fatalf("%s (%v):\n%s", what, err, out)
}

// final opens the checkpoint in dir and returns a copy of its current
// state and its step.
func final(t *testing.T, dir string) ([]float64, int) {
	t.Helper()
	g, err := array.Open[float64]("heat", shm.Dir(dir))
	require.NoError(t, err)
	defer g.Close()
	s, err := value.Open[int64]("heat.step", shm.Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	n := g.Shape()[1]
	step := int(s.Load())
	src, _ := buffers(g.Data(), n, step%2)
	return append([]float64(nil), src...), step
}

// requireBitwise compares two grids bit for bit.
func requireBitwise(t *testing.T, want, got []float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
			t.Fatalf("element %d: got %v, want %v (bitwise)", i, got[i], want[i])
		}
	}
}

func TestParallelEqualsSerial(t *testing.T) {
	const n, steps = 61, 40
	want := Serial(n, steps)
	for _, c := range [][]string{
		{"-backend", "serial"},
		{"-backend", "process", "-workers", "1"},
		{"-backend", "process", "-workers", "2"},
		{"-backend", "process", "-workers", "2", "-primary=false"},
		{"-backend", "goroutine", "-workers", "2"},
	} {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			dir := t.TempDir()
			code, out, stderr := heat2d(t, append(c, "-dir", dir, "-n", fmt.Sprint(n), "-steps", fmt.Sprint(steps), "-every", "10")...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, out, fmt.Sprintf("step %d/%d", steps, steps))
			require.Contains(t, out, fmt.Sprintf("checksum %016x", Checksum(want)))
			got, step := final(t, dir)
			require.Equal(t, steps, step)
			requireBitwise(t, want, got)
		})
	}
}

// TestKillMidStepAndResume: a worker process SIGKILLs the coordinator in
// the middle of step 7, after scribbling NaN over part of the buffer that
// step was writing. The resumed run redoes step 7 from the intact buffer
// and ends bitwise equal to the serial code.
func TestKillMidStepAndResume(t *testing.T) {
	const n, steps, killAt = 64, 30, 7
	dir := t.TempDir()
	args := []string{"-dir", dir, "-n", fmt.Sprint(n), "-steps", fmt.Sprint(steps), "-workers", "2", "-every", "0"}
	// With -primary (the default) the coordinator runs the first rows and a
	// worker process the rest: that worker kills the coordinator.
	out, err := start(t, []string{fmt.Sprintf("HEAT2D_TEST_KILL_STEP=%d", killAt)}, args...).wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, out)
	require.Equal(t, syscall.SIGKILL, ee.Sys().(syscall.WaitStatus).Signal(), out)

	torn, step := final(t, dir)
	require.Equal(t, killAt, step, "the interrupted step is not counted")
	requireBitwise(t, Serial(n, killAt), torn) // the counted state is intact
	g, err := array.Open[float64]("heat", shm.Dir(dir))
	require.NoError(t, err)
	_, dst := buffers(g.Data(), n, killAt%2)
	nans := 0
	for _, v := range dst {
		if math.IsNaN(v) {
			nans++
		}
	}
	g.Close()
	require.Positive(t, nans, "the other buffer was left torn")

	code, o, stderr := heat2d(t, append(args, "-resume")...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, o, fmt.Sprintf("resuming %s at step %d of %d", filepath.Join(dir, "heat"), killAt, steps))
	got, step := final(t, dir)
	require.Equal(t, steps, step)
	requireBitwise(t, Serial(n, steps), got)
}

// TestSIGKILLFromOutsideAndResume kills a running simulation from the test
// at an arbitrary moment, twice, resuming each time, and compares the end
// with an uninterrupted run.
func TestSIGKILLFromOutsideAndResume(t *testing.T) {
	const n, steps = 96, 400
	dir := t.TempDir()
	args := []string{"-dir", dir, "-n", fmt.Sprint(n), "-steps", fmt.Sprint(steps), "-workers", "2", "-every", "0"}
	uninterrupted := t.TempDir()
	code, _, stderr := heat2d(t, "-dir", uninterrupted, "-n", fmt.Sprint(n), "-steps", fmt.Sprint(steps), "-workers", "2", "-every", "0")
	require.Equal(t, 0, code, stderr)
	want, _ := final(t, uninterrupted)
	requireBitwise(t, Serial(n, steps), want)

	var stepVal *value.Value[int64]
	last := 0
	for round := range 2 {
		a := args
		if round > 0 {
			a = append(a, "-resume")
		}
		// A small delay per step keeps the run going long enough to be
		// killed while it steps; the kill lands wherever it lands.
		ch := start(t, nil, append(a, "-delay", "2ms")...)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if stepVal == nil {
				stepVal, _ = value.Open[int64]("heat.step", shm.Dir(dir))
			}
			if stepVal != nil && int(stepVal.Load()) >= last+10 {
				break
			}
			if time.Now().After(deadline) {
				ch.stuck(t, "no progress in 30 s")
			}
			time.Sleep(time.Millisecond)
		}
		ch.kill()
		_, err := ch.wait()
		require.ErrorContains(t, err, "killed")
		s := int(stepVal.Load())
		require.Less(t, s, steps, "killed before the end")
		last = s
	}
	stepVal.Close()
	code, _, stderr = heat2d(t, append(args, "-resume")...)
	require.Equal(t, 0, code, stderr)
	got, step := final(t, dir)
	require.Equal(t, steps, step)
	requireBitwise(t, want, got)
}

func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := heat2d(t, "-dir", dir, "-n", "8", "-steps", "3", "-backend", "serial")
	require.Equal(t, 0, code, stderr)

	code, _, stderr = heat2d(t, "-dir", dir, "-n", "8", "-steps", "3", "-backend", "serial")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "continue it with -resume")

	code, _, stderr = heat2d(t, "-dir", dir, "-steps", "2", "-resume", "-backend", "serial")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "at step 3, past -steps 2")

	code, _, stderr = heat2d(t, "-dir", dir, "-n", "9", "-steps", "5", "-resume", "-backend", "serial")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "-n 9, but the checkpoint's grid is 8×8")

	code, out, stderr := heat2d(t, "-dir", dir, "-steps", "5", "-resume", "-backend", "serial")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "resuming")
	u, s := final(t, dir)
	require.Equal(t, 5, s)
	requireBitwise(t, Serial(8, 5), u)

	code, _, stderr = heat2d(t, "-dir", dir, "-n", "8", "-steps", "2", "-force", "-backend", "serial")
	require.Equal(t, 0, code, stderr)
	u, s = final(t, dir)
	require.Equal(t, 2, s)
	requireBitwise(t, Serial(8, 2), u)

	// A grid without its counter: the creating run died too early.
	require.NoError(t, shm.Unlink("heat.step", shm.Dir(dir)))
	code, _, stderr = heat2d(t, "-dir", dir, "-resume", "-backend", "serial")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "incomplete checkpoint")

	code, _, stderr = heat2d(t, "-dir", t.TempDir(), "-resume")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "heat")

	for _, bad := range [][]string{{"-n", "2"}, {"-steps", "-1"}, {"-backend", "gpu"}, {"-workers", "-2"}, {"-resume", "-force"}, {"x"}} {
		code, _, stderr = heat2d(t, append(bad, "-dir", t.TempDir())...)
		require.Equal(t, 1, code, bad)
		require.True(t, strings.HasPrefix(stderr, "heat2d: "), stderr)
	}
}

// TestInUse: a second run on a checkpoint that a live process is stepping
// is refused.
func TestInUse(t *testing.T) {
	dir := t.TempDir()
	ch := start(t, nil, "-dir", dir, "-n", "16", "-steps", "100000", "-delay", "1ms", "-backend", "serial", "-every", "0")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, err := value.Open[int64]("heat.step", shm.Dir(dir)); err == nil {
			s := v.Load()
			v.Close()
			if s > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			ch.stuck(t, "the child made no progress in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	code, _, stderr := heat2d(t, "-dir", dir, "-steps", "100000", "-resume", "-backend", "serial")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "in use by another process")
	ch.kill()
	_, err := ch.wait()
	require.ErrorContains(t, err, "killed")
}
