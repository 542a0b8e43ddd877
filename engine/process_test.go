package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/proc"
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

var slogKernelK = engine.Register("spawn-slog-kernel", func(c *engine.Ctx, _ struct{}, lo, hi int) error {
	slog.Info("from a kernel", "name", engine.ProcessName())
	return nil
})

// envSpawnNoMain makes this test binary a program that calls Spawn before
// engine.Main (in init): the process it spawns, running init again, must
// stop in Spawn instead of spawning in turn.
const envSpawnNoMain = "SHMPAR_TEST_SPAWN_NOMAIN"

func init() {
	engine.RegisterProcess("spawn-noop", func(ctx context.Context, _ struct{}) error { return nil })
	if os.Getenv(envSpawnNoMain) != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := engine.Spawn(ctx, "spawn-noop", nil)
		cancel()
		fmt.Printf("spawn error: %v\n", err)
		os.Exit(0)
	}
	engine.RegisterProcess("spawn-error", func(ctx context.Context, a spawnN) error {
		return fmt.Errorf("bad thing %d", a.N)
	})
	engine.RegisterProcess("spawn-panic", func(ctx context.Context, _ struct{}) error {
		panic("boom")
	})
	engine.RegisterProcess("spawn-exit", func(ctx context.Context, a spawnN) error {
		os.Exit(a.N)
		return nil
	})
	// spawn-sleep prints its pid, then waits for its context (at most 30 s).
	engine.RegisterProcess("spawn-sleep", func(ctx context.Context, _ struct{}) error {
		fmt.Printf("pid %d\n", os.Getpid())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("never stopped")
		}
	})
	engine.RegisterProcess("spawn-deaf", func(ctx context.Context, _ struct{}) error {
		time.Sleep(30 * time.Second)
		return nil
	})
	engine.RegisterProcess("spawn-print", func(ctx context.Context, _ struct{}) error {
		fmt.Print("hello\nworld\npartial")
		fmt.Fprint(os.Stderr, "oops\n")
		return nil
	})
	engine.RegisterProcess("spawn-log", func(ctx context.Context, _ struct{}) error {
		fmt.Println("name", engine.ProcessName())
		slog.Info("from the child", "k", 7)
		log.Print("through log")
		return nil
	})
	engine.RegisterProcess("spawn-sum", func(ctx context.Context, a spawnSumArgs) error {
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
	engine.RegisterProcess("spawn-echo", func(ctx context.Context, a spawnEchoArgs) error {
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
	engine.RegisterProcess("spawn-chan", func(ctx context.Context, _ spawnChanArgs) error { return nil })
	engine.RegisterProcess("spawn-iface", func(ctx context.Context, _ spawnIfaceArgs) error { return nil })
	// spawn-team runs a team of its own in the spawned process.
	engine.RegisterProcess("spawn-team", func(ctx context.Context, _ struct{}) error {
		team, err := engine.Start(engine.Config{Workers: 2})
		if err != nil {
			return err
		}
		defer team.Close()
		return noopK.For(ctx, team, 100, struct{}{})
	})
	engine.RegisterProcess("spawn-env", func(ctx context.Context, key string) error {
		if v, ok := os.LookupEnv(key); ok {
			return fmt.Errorf("%s=%s", key, v)
		}
		return fmt.Errorf("%s unset", key)
	})
	roles["spawn-parent"] = runSpawnParent
	roles["exit0"] = func() int { return 0 }
}

// runSpawnParent spawns spawn-sleep, prints its pid and waits to be
// killed.
func runSpawnParent() int {
	p, err := engine.Spawn(context.Background(), "spawn-sleep", nil, engine.Stdout(nil))
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("pid %d\nready\n", p.PID())
	time.Sleep(time.Minute)
	return 0
}

// spawnCtx is a context that bounds a test.
func spawnCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// spawn spawns a process that is killed when the test ends.
func spawn(t *testing.T, name string, args any, opts ...engine.ProcOption) *engine.Proc {
	t.Helper()
	p, err := engine.Spawn(spawnCtx(t), name, args, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill(); p.WaitContext(context.Background()) })
	return p
}

// wait is Wait bounded by 30 s.
func wait(t *testing.T, p *engine.Proc) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.WaitContext(ctx)
	require.NotErrorIs(t, err, context.DeadlineExceeded, "process did not exit in time")
	return err
}

// procError asserts that err is a *ProcError of p.
func procError(t *testing.T, p *engine.Proc, err error) *engine.ProcError {
	t.Helper()
	var pe *engine.ProcError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, p.Name(), pe.Name)
	require.Equal(t, p.PID(), pe.PID)
	return pe
}

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSpawnReturnsNil(t *testing.T) {
	p := spawn(t, "spawn-noop", nil)
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

	q := spawn(t, "spawn-noop", struct{}{}, engine.Name("solo"))
	require.Equal(t, "solo", q.Name())
	require.NoError(t, wait(t, q))
}

func TestSpawnError(t *testing.T) {
	p := spawn(t, "spawn-error", spawnN{N: 7})
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
	p := spawn(t, "spawn-panic", nil)
	err := wait(t, p)
	pe := procError(t, p, err)
	var pan *engine.PanicError
	require.ErrorAs(t, err, &pan)
	require.Equal(t, "boom", pan.Value)
	require.Contains(t, pe.Stack, "process_test.go", "the stack of the panic")
	require.Equal(t, 1, pe.ExitCode)
}

func TestSpawnExitCode(t *testing.T) {
	p := spawn(t, "spawn-exit", spawnN{N: 3})
	err := wait(t, p)
	pe := procError(t, p, err)
	require.ErrorIs(t, err, engine.ErrProcessDied)
	require.Equal(t, 3, pe.ExitCode)
	require.Equal(t, 3, p.ExitCode())
	require.Contains(t, err.Error(), "exited with status 3")

	p = spawn(t, "spawn-exit", spawnN{N: 0})
	require.NoError(t, wait(t, p), "os.Exit(0) is a success")
}

func TestSpawnKill(t *testing.T) {
	p := spawn(t, "spawn-sleep", nil, engine.Stdout(nil))
	require.True(t, p.Alive())
	require.Equal(t, -1, p.ExitCode())
	require.NoError(t, p.Kill())
	err := wait(t, p)
	pe := procError(t, p, err)
	require.Equal(t, syscall.SIGKILL, pe.Signal)
	require.Equal(t, -1, pe.ExitCode)
	require.Equal(t, -1, p.ExitCode())
	require.ErrorIs(t, err, engine.ErrProcessDied)
	require.Contains(t, err.Error(), "killed by signal 9")
}

func TestSpawnTerminate(t *testing.T) {
	t.Run("function returns", func(t *testing.T) {
		p := spawn(t, "spawn-sleep", nil, engine.Stdout(nil))
		require.NoError(t, p.Terminate())
		err := wait(t, p)
		require.ErrorIs(t, err, context.Canceled, "the function's context was canceled and its error crossed back")
		require.Equal(t, 1, procError(t, p, err).ExitCode)
	})
	t.Run("function ignores its context", func(t *testing.T) {
		p := spawn(t, "spawn-deaf", nil)
		require.NoError(t, p.Terminate())
		err := wait(t, p)
		require.Equal(t, syscall.SIGTERM, procError(t, p, err).Signal)
	})
}

func TestSpawnContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := engine.Spawn(ctx, "spawn-sleep", nil, engine.Stdout(nil))
	require.NoError(t, err)
	t.Cleanup(func() { p.Kill() })
	cancel()
	err = wait(t, p)
	require.ErrorIs(t, err, context.Canceled)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = engine.Spawn(ctx, "spawn-noop", nil)
	require.ErrorIs(t, err, context.Canceled, "no process for a context that ended")
}

func TestSpawnWaitContext(t *testing.T) {
	p := spawn(t, "spawn-sleep", nil, engine.Stdout(nil))
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
		var out, errOut syncBuf
		p := spawn(t, "spawn-print", nil, engine.Name("printer"), engine.PrefixOutput(), engine.Stdout(&out), engine.Stderr(&errOut))
		require.NoError(t, wait(t, p))
		require.Equal(t, "[printer] hello\n[printer] world\n[printer] partial\n", out.String())
		require.Equal(t, "[printer] oops\n", errOut.String())
	})
	t.Run("unchanged", func(t *testing.T) {
		var out, errOut syncBuf
		p := spawn(t, "spawn-print", nil, engine.Stdout(&out), engine.Stderr(&errOut))
		require.NoError(t, wait(t, p))
		require.Equal(t, "hello\nworld\npartial", out.String())
		require.Equal(t, "oops\n", errOut.String())
	})
	t.Run("one writer", func(t *testing.T) {
		var all syncBuf
		p := spawn(t, "spawn-print", nil, engine.Name("both"), engine.PrefixOutput(), engine.Stdout(&all), engine.Stderr(&all))
		require.NoError(t, wait(t, p))
		lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
		require.ElementsMatch(t, []string{"[both] hello", "[both] world", "[both] partial", "[both] oops"}, lines)
	})
}

func TestSpawnLogs(t *testing.T) {
	var out, errOut syncBuf
	p := spawn(t, "spawn-log", nil, engine.Name("logger"), engine.Stdout(&out), engine.Stderr(&errOut))
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

func TestTeamWorkerLogs(t *testing.T) {
	var errOut syncBuf
	team, err := engine.Start(engine.Config{Workers: 2, Stderr: &errOut})
	require.NoError(t, err)
	defer team.Close()
	require.NoError(t, slogKernelK.For(spawnCtx(t), team, 2, struct{}{}, engine.Static()))
	pids := team.PIDs()
	require.NoError(t, team.Close(), "Close waits for the workers' output")
	got := errOut.String()
	m := regexp.MustCompile(`worker=(\d+) pid=(\d+) name=worker-(\d+)`).FindAllStringSubmatch(got, -1)
	require.NotEmpty(t, m, got)
	for _, f := range m {
		require.Equal(t, f[1], f[3], got)
		i, _ := strconv.Atoi(f[1])
		require.Equal(t, strconv.Itoa(pids[i]), f[2], got)
	}
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

	p := spawn(t, "spawn-sum", spawnSumArgs{Q: tq, Sum: sum})
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
	p := spawn(t, "spawn-echo", spawnEchoArgs{C: b})
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
	_, err := engine.Spawn(ctx, "spawn-nope", nil)
	require.ErrorIs(t, err, engine.ErrUnknownProcessFunc)
	require.Contains(t, err.Error(), "spawn-nope")

	_, err = engine.Spawn(ctx, "spawn-error", 42)
	require.ErrorIs(t, err, engine.ErrArgsType)
	require.Contains(t, err.Error(), "engine_test.spawnN")
	require.Contains(t, err.Error(), "int")

	_, err = engine.Spawn(ctx, "spawn-chan", spawnChanArgs{C: make(chan int)})
	require.ErrorIs(t, err, engine.ErrArgsEncode)
	require.Contains(t, err.Error(), "chan")

	_, err = engine.Spawn(ctx, "spawn-iface", spawnIfaceArgs{V: spawnUnregistered{X: 1}})
	require.ErrorIs(t, err, engine.ErrArgsEncode)
	require.Contains(t, err.Error(), "not registered")

	p := spawn(t, "spawn-iface", spawnIfaceArgs{V: 3})
	require.NoError(t, wait(t, p), "a basic type in an interface crosses")
}

func TestSpawnForgottenMain(t *testing.T) {
	got := runBounded(t, child(t, "", envSpawnNoMain+"=1", "GORACE=atexit_sleep_ms=0"),
		"a program that spawns before engine.Main hung")
	require.Contains(t, got, "spawn error:")
	require.Contains(t, got, engine.ErrNoMain.Error())
	require.Contains(t, got, "Spawn called in a process shmpar started (a process)", "the child's own message is quoted")
	require.Equal(t, 1, strings.Count(got, "spawn error:"), "the child must not print: it exits in Spawn")
}

func TestSpawnParentKilled(t *testing.T) {
	cmd := child(t, "spawn-parent")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	pid := 0
	timeout := time.After(60 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "parent exited before it was ready")
			require.NotContains(t, l, "error")
			if p, ok := strings.CutPrefix(l, "pid "); ok {
				pid, err = strconv.Atoi(p)
				require.NoError(t, err)
			}
			if l == "ready" {
				break wait
			}
		case <-timeout:
			t.Fatal("parent did not get ready")
		}
	}
	require.Positive(t, pid)
	alive, err := proc.Alive(proc.ID{PID: pid})
	require.NoError(t, err)
	require.True(t, alive)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	deadline := time.Now().Add(2 * time.Second)
	for {
		alive, err := proc.Alive(proc.ID{PID: pid})
		require.NoError(t, err)
		if !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spawned process %d still alive 2s after its parent was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSpawnMany(t *testing.T) {
	const n = 8
	procs := make([]*engine.Proc, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, err := engine.Spawn(spawnCtx(t), "spawn-error", spawnN{N: i})
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
	p := spawn(t, "spawn-team", nil)
	require.NoError(t, wait(t, p))
}

func TestSpawnLeavesNoDescriptors(t *testing.T) {
	countFDs := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	require.NoError(t, wait(t, spawn(t, "spawn-noop", nil))) // the lifeline pipe stays
	before := countFDs()
	for range 5 {
		require.NoError(t, wait(t, spawn(t, "spawn-print", nil, engine.PrefixOutput(), engine.Stdout(io.Discard), engine.Stderr(io.Discard))))
		require.Error(t, wait(t, spawn(t, "spawn-panic", nil)))
	}
	require.Equal(t, before, countFDs())
}

func TestSpawnEnv(t *testing.T) {
	p := spawn(t, "spawn-env", "SHMPAR_TEST_SPAWN_ENV", engine.Env("SHMPAR_TEST_SPAWN_ENV=42"))
	require.Equal(t, "SHMPAR_TEST_SPAWN_ENV=42", procError(t, p, wait(t, p)).Err.Error())
	p = spawn(t, "spawn-env", "SHMPAR_ENGINE_PROCESS")
	require.Equal(t, "SHMPAR_ENGINE_PROCESS unset", procError(t, p, wait(t, p)).Err.Error(), "the marker is not left for the function's own children")
}
