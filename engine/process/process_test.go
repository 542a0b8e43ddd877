package process_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

type spawnN struct{ N int }

type spawnSumArgs struct {
	Q   *queue.Typed[int64]
	Sum *value.Value[int64]
}

type spawnEchoArgs struct{ C *queue.Conn }

type spawnChanArgs struct{ C chan int }

type spawnIfaceArgs struct{ V any }

type spawnUnregistered struct{ X int }

// envSpawnNoMain makes this test binary a program that calls Start before
// engine.Main (in init): the process it starts, running init again, must
// stop in Start instead of starting one in turn.
const envSpawnNoMain = "SHMPAR_TEST_SPAWN_NOMAIN"

// The functions the tests run in new processes (registered in every
// process of the test binary).
var (
	noopP  = process.Register("spawn-noop", func(ctx context.Context, _ struct{}) error { return nil })
	errorP = process.Register("spawn-error", func(ctx context.Context, a spawnN) error {
		return fmt.Errorf("bad thing %d", a.N)
	})
	panicP = process.Register("spawn-panic", func(ctx context.Context, _ struct{}) error {
		panic("boom")
	})
	exitP = process.Register("spawn-exit", func(ctx context.Context, a spawnN) error {
		os.Exit(a.N)
		return nil
	})
	// spawn-sleep prints its pid, then waits for its context (at most 30 s).
	sleepP = process.Register("spawn-sleep", func(ctx context.Context, _ struct{}) error {
		fmt.Printf("pid %d\n", os.Getpid())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("never stopped")
		}
	})
	deafP = process.Register("spawn-deaf", func(ctx context.Context, _ struct{}) error {
		time.Sleep(30 * time.Second)
		return nil
	})
	printP = process.Register("spawn-print", func(ctx context.Context, _ struct{}) error {
		fmt.Print("hello\nworld\npartial")
		fmt.Fprint(os.Stderr, "oops\n")
		return nil
	})
	logP = process.Register("spawn-log", func(ctx context.Context, _ struct{}) error {
		fmt.Println("name", engine.ProcessName())
		slog.Info("from the child", "k", 7)
		log.Print("through log")
		return nil
	})
	sumP = process.Register("spawn-sum", func(ctx context.Context, a spawnSumArgs) error {
		for {
			v, err := a.Q.Get(ctx)
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			if err != nil {
				return err
			}
			a.Sum.Add(v)
		}
	})
	echoP = process.Register("spawn-echo", func(ctx context.Context, a spawnEchoArgs) error {
		var buf []byte
		for {
			var err error
			buf, err = a.C.RecvAppend(ctx, buf[:0])
			if errors.Is(err, queue.ErrClosed) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := a.C.Send(ctx, buf); err != nil {
				return err
			}
		}
	})
	chanP  = process.Register("spawn-chan", func(ctx context.Context, _ spawnChanArgs) error { return nil })
	ifaceP = process.Register("spawn-iface", func(ctx context.Context, _ spawnIfaceArgs) error { return nil })
	// spawn-team runs a team of its own in the spawned process.
	teamP = process.Register("spawn-team", func(ctx context.Context, _ struct{}) error {
		team, err := engine.Start(engine.Workers(2))
		if err != nil {
			return err
		}
		defer team.Close()
		n, err := countK.Reduce(ctx, team, 100, struct{}{}, engine.Sum[int]())
		if err == nil && n != 100 {
			err = fmt.Errorf("the team counted %d elements of 100", n)
		}
		return err
	})
	// countK is the kernel spawn-team runs: it counts its elements.
	countK = engine.RegisterReduce("process-test-count", func(c *engine.Ctx, _ struct{}, lo, hi int) (int, error) {
		return hi - lo, nil
	})
	envP = process.Register("spawn-env", func(ctx context.Context, key string) error {
		if v, ok := os.LookupEnv(key); ok {
			return fmt.Errorf("%s=%s", key, v)
		}
		return fmt.Errorf("%s unset", key)
	})
)

func init() {
	if os.Getenv(envSpawnNoMain) != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := noopP.Start(ctx, struct{}{})
		cancel()
		fmt.Printf("spawn error: %v\n", err)
		os.Exit(0)
	}
}

// spawnCtx is a context that bounds a test.
func spawnCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start starts a process that is killed when the test ends.
func start[A any](t *testing.T, f *process.Func[A], args A, opts ...process.Option) *process.Process {
	t.Helper()
	p, err := f.Start(spawnCtx(t), args, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); p.WaitContext(context.Background()) })
	return p
}

// wait is Wait bounded by 30 s.
func wait(t *testing.T, p *process.Process) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.WaitContext(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "process did not exit in time")
	return err
}

// procError asserts that err is a *process.Error of p.
func procError(t *testing.T, p *process.Process, err error) *process.Error {
	t.Helper()
	var pe *process.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, p.Name(), pe.Name)
	require.Equal(t, p.PID(), pe.PID)
	return pe
}

func TestSpawnReturnsNil(t *testing.T) {
	p := start(t, noopP, struct{}{})
	require.True(t, strings.HasPrefix(p.Name(), "spawn-noop-"), p.Name())
	require.Positive(t, p.PID())
	require.NotEqual(t, os.Getpid(), p.PID())
	require.NoError(t, wait(t, p))
	require.False(t, p.Alive())
	require.Equal(t, 0, p.ExitCode())
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
	require.NoError(t, p.Wait(), "Wait again")
	require.NoError(t, p.Kill(), "Kill after exit")
	require.Contains(t, p.String(), "exited with status 0")

	q := start(t, noopP, struct{}{}, process.Name("solo"))
	require.Equal(t, "solo", q.Name())
	require.NoError(t, wait(t, q))
}

func TestSpawnError(t *testing.T) {
	p := start(t, errorP, spawnN{N: 7})
	err := wait(t, p)
	pe := procError(t, p, err)
	require.Equal(t, "bad thing 7", pe.Err.Error())
	require.Contains(t, err.Error(), "bad thing 7")
	require.Contains(t, err.Error(), p.Name())
	require.Equal(t, 1, pe.ExitCode)
	require.Equal(t, 1, p.ExitCode())
	require.Zero(t, pe.Signal)
	require.Empty(t, pe.Stack)
}

func TestSpawnPanic(t *testing.T) {
	p := start(t, panicP, struct{}{})
	err := wait(t, p)
	pe := procError(t, p, err)
	var pan *engine.PanicError
	require.ErrorAs(t, err, &pan)
	require.Equal(t, "boom", pan.Value)
	require.Contains(t, pe.Stack, "process_test.go", "the stack of the panic")
	require.Equal(t, 1, pe.ExitCode)
}

func TestSpawnExitCode(t *testing.T) {
	p := start(t, exitP, spawnN{N: 3})
	err := wait(t, p)
	pe := procError(t, p, err)
	require.ErrorIs(t, err, process.ErrDied)
	require.Equal(t, 3, pe.ExitCode)
	require.Equal(t, 3, p.ExitCode())
	require.Contains(t, err.Error(), "exited with status 3")

	p = start(t, exitP, spawnN{N: 0})
	require.NoError(t, wait(t, p), "os.Exit(0) is a success")
}

func TestSpawnKill(t *testing.T) {
	p := start(t, sleepP, struct{}{}, process.Stdout(nil))
	require.True(t, p.Alive())
	require.Equal(t, -1, p.ExitCode())
	require.NoError(t, p.Kill())
	err := wait(t, p)
	pe := procError(t, p, err)
	require.Equal(t, syscall.SIGKILL, pe.Signal)
	require.Equal(t, -1, pe.ExitCode)
	require.Equal(t, -1, p.ExitCode())
	require.ErrorIs(t, err, process.ErrDied)
	require.Contains(t, err.Error(), "killed by signal 9")
}

func TestSpawnTerminate(t *testing.T) {
	t.Run("function returns", func(t *testing.T) {
		p := start(t, sleepP, struct{}{}, process.Stdout(nil))
		require.NoError(t, p.Terminate())
		err := wait(t, p)
		require.ErrorIs(t, err, context.Canceled, "the function's context was canceled and its error crossed back")
		require.Equal(t, 1, procError(t, p, err).ExitCode)
	})
	t.Run("function ignores its context", func(t *testing.T) {
		p := start(t, deafP, struct{}{})
		require.NoError(t, p.Terminate())
		err := wait(t, p)
		require.Equal(t, syscall.SIGTERM, procError(t, p, err).Signal)
	})
}

func TestSpawnContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := sleepP.Start(ctx, struct{}{}, process.Stdout(nil))
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill() })
	cancel()
	err = wait(t, p)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = noopP.Start(ctx, struct{}{})
	require.ErrorIs(t, err, context.Canceled, "no process for a context that ended")
}

func TestSpawnWaitContext(t *testing.T) {
	p := start(t, sleepP, struct{}{}, process.Stdout(nil))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.WaitContext(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, p.Alive(), "WaitContext's deadline does not stop the process")
	require.NoError(t, p.Kill())
	require.Equal(t, syscall.SIGKILL, procError(t, p, wait(t, p)).Signal)
}

func TestSpawnOutput(t *testing.T) {
	t.Run("prefixed", func(t *testing.T) {
		var out, errOut teamtest.SyncBuffer
		p := start(t, printP, struct{}{}, process.Name("printer"), process.PrefixOutput(), process.Stdout(&out), process.Stderr(&errOut))
		require.NoError(t, wait(t, p))
		require.Equal(t, "[printer] hello\n[printer] world\n[printer] partial\n", out.String())
		require.Equal(t, "[printer] oops\n", errOut.String())
	})
	t.Run("unchanged", func(t *testing.T) {
		var out, errOut teamtest.SyncBuffer
		p := start(t, printP, struct{}{}, process.Stdout(&out), process.Stderr(&errOut))
		require.NoError(t, wait(t, p))
		require.Equal(t, "hello\nworld\npartial", out.String())
		require.Equal(t, "oops\n", errOut.String())
	})
	t.Run("one writer", func(t *testing.T) {
		var all teamtest.SyncBuffer
		p := start(t, printP, struct{}{}, process.Name("both"), process.PrefixOutput(), process.Stdout(&all), process.Stderr(&all))
		require.NoError(t, wait(t, p))
		lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
		require.ElementsMatch(t, []string{"[both] hello", "[both] world", "[both] partial", "[both] oops"}, lines)
	})
}

func TestSpawnLogs(t *testing.T) {
	var out, errOut teamtest.SyncBuffer
	p := start(t, logP, struct{}{}, process.Name("logger"), process.Stdout(&out), process.Stderr(&errOut))
	require.NoError(t, wait(t, p))
	require.Equal(t, "name logger\n", out.String())
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	require.Len(t, lines, 2, errOut.String())
	pid := fmt.Sprintf("pid=%d", p.PID())
	require.Contains(t, lines[0], `msg="from the child"`)
	require.Contains(t, lines[0], "k=7")
	require.Contains(t, lines[1], `msg="through log"`)
	for _, l := range lines {
		require.Contains(t, l, "process=logger")
		require.Contains(t, l, pid)
	}
	require.Equal(t, "main", engine.ProcessName())
}

func TestSpawnQueue(t *testing.T) {
	ctx := spawnCtx(t)
	q, err := queue.CreateAnon(4096)
	require.NoError(t, err)
	defer q.Close()
	sum, err := value.CreateAnon[int64]()
	require.NoError(t, err)
	defer sum.Close()
	tq := queue.NewTyped[int64](q, nil)

	p := start(t, sumP, spawnSumArgs{Q: tq, Sum: sum})
	const n = 1000
	var want int64
	for i := range int64(n) {
		v := i*i + 1
		want += v
		require.NoError(t, tq.Put(ctx, v))
	}
	require.NoError(t, tq.CloseWrite())
	require.NoError(t, wait(t, p))
	require.Equal(t, want, sum.Load())
	require.Zero(t, q.Len())
}

func TestSpawnPipe(t *testing.T) {
	ctx := spawnCtx(t)
	dir := t.TempDir()
	a, b, err := queue.NewPipe("spawn-pipe", 4096, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	p := start(t, echoP, spawnEchoArgs{C: b})
	// The child has attached to its end once Spawn returned.
	require.NoError(t, a.Unlink())
	require.NoError(t, b.Close())
	var buf []byte
	for i := range 1000 {
		msg := strconv.Itoa(i)
		require.NoError(t, a.Send(ctx, []byte(msg)))
		buf, err = a.RecvAppend(ctx, buf[:0])
		require.NoError(t, err)
		require.Equal(t, msg, string(buf))
	}
	require.NoError(t, a.CloseWrite())
	require.NoError(t, wait(t, p))
}

func TestSpawnBadCalls(t *testing.T) {
	ctx := spawnCtx(t)
	// A name or argument type the function does not have cannot be
	// written: the handle carries both. A handle that was never
	// registered is an error.
	var never *process.Func[int]
	_, err := never.Start(ctx, 1)
	require.ErrorIs(t, err, process.ErrUnknownFunc)

	_, err = chanP.Start(ctx, spawnChanArgs{C: make(chan int)})
	require.ErrorIs(t, err, engine.ErrArgsEncode)
	require.Contains(t, err.Error(), "chan")

	_, err = ifaceP.Start(ctx, spawnIfaceArgs{V: spawnUnregistered{X: 1}})
	require.ErrorIs(t, err, engine.ErrArgsEncode)
	require.Contains(t, err.Error(), "not registered")

	p := start(t, ifaceP, spawnIfaceArgs{V: 3})
	require.NoError(t, wait(t, p), "a basic type in an interface crosses")
}

var (
	lateOnce sync.Once
	lateP    *process.Func[struct{}]
)

func TestSpawnRegisteredAfterMain(t *testing.T) {
	// Registered here, after engine.Main returned in TestMain: the new
	// process (which never gets here) does not have it.
	lateOnce.Do(func() {
		lateP = process.Register("spawn-late", func(ctx context.Context, _ struct{}) error { return nil })
	})
	_, err := lateP.Start(spawnCtx(t), struct{}{}, process.Stderr(io.Discard))
	require.ErrorIs(t, err, process.ErrUnknownFunc)
	require.ErrorIs(t, err, engine.ErrStart)
	require.Contains(t, err.Error(), "spawn-late")
	require.Contains(t, err.Error(), "initialization")
	require.True(t, strings.HasPrefix(err.Error(), "process: start "), err.Error())
	require.Equal(t, 1, strings.Count(err.Error(), "process: start"), "one prefix: %v", err)
}

func TestSpawnForgottenMain(t *testing.T) {
	got, err := testproc.Start("spawn-nomain", envSpawnNoMain+"=1", "GORACE=atexit_sleep_ms=0").Wait()
	require.NoError(t, err, "a program that starts a process before engine.Main: %s", got)
	require.Contains(t, got, "spawn error:")
	require.Contains(t, got, engine.ErrNoMain.Error())
	require.Contains(t, got, "process.Start called in a process shmpar started (a process)", "the child's own message is quoted")
	require.Equal(t, 1, strings.Count(got, "spawn error:"), "the child must not print: it exits in Start")
}

func TestSpawnParentKilled(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report")
	parent := testproc.Start("spawn-parent", teamtest.EnvReport+"="+report)
	lines := teamtest.AwaitReport(t, report)
	require.Len(t, lines, 2, "the parent's pid and its process's")
	parentPID, err := strconv.Atoi(lines[0])
	require.NoError(t, err)
	pid, err := strconv.Atoi(lines[1])
	require.NoError(t, err)
	alive, err := proc.Alive(proc.ID{PID: pid})
	require.NoError(t, err)
	require.True(t, alive)
	require.NoError(t, syscall.Kill(parentPID, syscall.SIGKILL))
	_, err = parent.Wait()
	require.ErrorContains(t, err, "killed")
	teamtest.AwaitGone(t, pid, 2*time.Second)
}

func TestSpawnMany(t *testing.T) {
	const n = 8
	procs := make([]*process.Process, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := errorP.Start(spawnCtx(t), spawnN{N: i})
			if err == nil {
				procs[i] = p
			} else {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	pids := map[int]bool{}
	for i, p := range procs {
		require.NotNil(t, p)
		pids[p.PID()] = true
		err := wait(t, p)
		require.Equal(t, fmt.Sprintf("bad thing %d", i), procError(t, p, err).Err.Error())
	}
	require.Len(t, pids, n)
}

func TestSpawnedProcessRunsATeam(t *testing.T) {
	p := start(t, teamP, struct{}{})
	require.NoError(t, wait(t, p))
}

func TestSpawnLeavesNoDescriptors(t *testing.T) {
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	require.NoError(t, wait(t, start(t, noopP, struct{}{}))) // the spawning thread and its first fds
	before := countFDs()
	for range 5 {
		require.NoError(t, wait(t, start(t, printP, struct{}{}, process.PrefixOutput(), process.Stdout(io.Discard), process.Stderr(io.Discard))))
		require.Error(t, wait(t, start(t, panicP, struct{}{})))
	}
	require.Equal(t, before, countFDs())
}

func TestSpawnEnv(t *testing.T) {
	p := start(t, envP, "SHMPAR_TEST_SPAWN_ENV", process.Env("SHMPAR_TEST_SPAWN_ENV=42"))
	require.Equal(t, "SHMPAR_TEST_SPAWN_ENV=42", procError(t, p, wait(t, p)).Err.Error())
	p = start(t, envP, "SHMPAR_ENGINE_PROCESS")
	require.Equal(t, "SHMPAR_ENGINE_PROCESS unset", procError(t, p, wait(t, p)).Err.Error(), "the marker is not left for the function's own children")
}

// procNames returns what ps, top and pgrep see of process pid: its argv[0]
// and its kernel name.
func procNames(t *testing.T, pid int) (argv0, comm string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	argv0, _, _ = strings.Cut(string(b), "\x00")
	c, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	require.NoError(t, err)
	return argv0, strings.TrimSuffix(string(c), "\n")
}

// A started process is named for ps, top and pgrep after the program and
// its name, not "exe" (the name of /proc/self/exe).
func TestProcessNamedInPs(t *testing.T) {
	ctx := teamtest.Ctx(t)
	prog := filepath.Base(os.Args[0])
	for _, c := range []struct {
		opts []process.Option
		name string
	}{
		{[]process.Option{process.Name("Worker 1")}, "Worker 1"},
		{nil, "spawn-sleep-"}, // the default name: the function's, numbered
	} {
		p, err := sleepP.Start(ctx, struct{}{}, append(c.opts, process.Stdout(nil))...)
		require.NoError(t, err)
		argv0, comm := procNames(t, p.PID())
		require.True(t, strings.HasPrefix(argv0, prog+": "+c.name), "argv[0] %q", argv0)
		want := argv0
		if len(want) > 15 {
			want = want[:15]
		}
		require.Equal(t, want, comm, "the kernel's name: argv[0] in 15 bytes")
		require.True(t, strings.HasPrefix(comm, prog[:min(len(prog), 15)]), "pgrep %s finds it", prog)
		require.NoError(t, p.Terminate())
		_ = p.Wait()
	}
}
