//go:build linux

package testproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m, child) }

// futexWord is what the futex-sleep role sleeps on.
var futexWord uint32

// leaked keeps what the leaking roles leak reachable, so that no finalizer
// closes it before the check.
var leaked []any

// shortWait is the leak check's bound in the roles that expect a leak.
const shortWait = 200 * time.Millisecond

func child(role string) error {
	switch role {
	case "echo":
		fmt.Print(os.Getenv("WORD"), " ", os.Getpid())
		return nil
	case "fail":
		return errors.New("as asked")
	case "lines": // two lines and a last one without newline on stdout, one on stderr
		fmt.Print("one\ntwo\n")
		fmt.Fprintln(os.Stderr, "to stderr")
		fmt.Print("three")
		return nil
	case "args":
		fmt.Println(strings.Join(ChildArgs(), "|"))
		return nil
	case "exit3":
		os.Exit(3)
	case "stdin": // count stdin's bytes until the parent closes it
		n, err := io.Copy(io.Discard, os.Stdin)
		fmt.Println("read", n, err)
		return nil
	case "file": // print what inherited descriptor 3 holds
		b, err := io.ReadAll(os.NewFile(3, "inherited"))
		if err != nil {
			return err
		}
		fmt.Printf("%s\n", b)
		return nil
	case "futex-sleep": // print a word's address, then sleep on it until woken or killed
		fmt.Printf("%#x\n", uintptr(unsafe.Pointer(&futexWord)))
		for futexWord == 0 {
			if err := futex.Wait(&futexWord, 0, Timeout); err != nil {
				return err
			}
		}
		return nil
	case "map-file": // map the file at MAP_PATH, print where, hold it until stdin closes
		f, err := os.OpenFile(os.Getenv("MAP_PATH"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return err
		}
		fmt.Printf("%#x\n", uintptr(unsafe.Pointer(&mem[0])))
		_, err = io.Copy(io.Discard, os.Stdin)
		return err
	case "sleep": // outlive the tests unless killed
		fmt.Println("ready")
		time.Sleep(Timeout)
		return errors.New("was not killed")

	// The roles below run the leak check around a function standing in for
	// m.Run, and exit with its verdict.
	case "leak-fd":
		os.Exit(checked(os.Stderr, func() int {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return 2
			}
			leaked = append(leaked, f)
			return 0
		}, nil, shortWait))
	case "leak-child":
		os.Exit(checked(os.Stderr, func() int {
			c := Start("sleep")
			leaked = append(leaked, c)
			fmt.Println("grandchild", c.PID())
			return 0
		}, nil, shortWait))
	case "leak-failed": // tests that fail and leak keep their own status
		os.Exit(checked(os.Stderr, func() int {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return 2
			}
			leaked = append(leaked, f)
			return 7
		}, nil, shortWait))
	case "clean": // everything the tests open is closed or reaped, some of it late
		os.Exit(checked(os.Stderr, func() int {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return 2
			}
			f.Close()
			if _, err := Start("echo").Wait(); err != nil {
				return 2
			}
			killed := Start("sleep") // killed as the tests end, reaped just after
			if err := killed.Kill(); err != nil {
				return 2
			}
			late, err := os.Open(os.DevNull)
			if err != nil {
				return 2
			}
			go func() {
				time.Sleep(300 * time.Millisecond) // a slow closer: the check must wait for it
				late.Close()
			}()
			return 0
		}, nil, LeakWait))
	case "after-run": // what AfterRun releases is not a leak
		var f *os.File
		os.Exit(checked(os.Stderr, func() int {
			var err error
			if f, err = os.Open(os.DevNull); err != nil {
				return 2
			}
			return 0
		}, []func(){func() { f.Close() }}, shortWait))
	}
	return fmt.Errorf("unknown role %q", role)
}

func TestRunIsAnotherProcess(t *testing.T) {
	var word string
	var pid int
	_, err := fmt.Sscan(Run(t, "echo", "WORD=hello"), &word, &pid)
	require.NoError(t, err)
	require.Equal(t, "hello", word)
	require.NotEqual(t, os.Getpid(), pid)
}

func TestFailingChild(t *testing.T) {
	c := Start("fail")
	out, err := c.Wait()
	require.Error(t, err)
	require.Contains(t, out, "child: as asked")
	require.Equal(t, 1, c.ExitCode())
	out2, err2 := c.Wait()
	require.Equal(t, out, out2, "Wait again returns the same")
	require.Equal(t, err, err2)
}

func TestUnknownRole(t *testing.T) {
	out, err := Start("no-such-role").Wait()
	require.Error(t, err)
	require.Contains(t, out, `unknown role "no-such-role"`)
}

func TestLinesAndStreams(t *testing.T) {
	c := Spawn(t, "lines")
	c.Expect(t, "two") // skips "one"
	require.Equal(t, "three", c.Line(t), "a last line without newline counts once the child exits")
	out := c.WaitOK(t)
	require.Contains(t, out, "to stderr")
	require.Equal(t, "one\ntwo\nthree", c.Stdout())
	require.Equal(t, "to stderr\n", c.Stderr())
	require.Equal(t, 0, c.ExitCode())

	// After the last line, Line and Expect fail: the child exited.
	r := &recorder{TB: t}
	c.Line(r)
	require.Contains(t, r.failed, "the child exited")
	r = &recorder{TB: t}
	c.Expect(r, "four")
	require.Contains(t, r.failed, `waiting for the line "four"`)
}

func TestArgs(t *testing.T) {
	c := Spawn(t, "args", Args("a b", "--", "-x"))
	require.Equal(t, "a b|--|-x", c.Line(t))
	c.WaitOK(t)
}

func TestExitCode(t *testing.T) {
	c := Spawn(t, "exit3")
	_, err := c.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 3, c.ExitCode())
	r := &recorder{TB: t}
	c.WaitOK(r)
	require.Contains(t, r.failed, "exit status 3")
}

func TestStdin(t *testing.T) {
	c := Spawn(t, "stdin")
	require.NoError(t, c.CloseStdin())
	require.Equal(t, "read 0 <nil>", c.Line(t))
	c.WaitOK(t)
	require.NoError(t, c.CloseStdin(), "closing again, after the exit, does nothing")
}

func TestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(path, []byte("inherited contents"), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	c := Spawn(t, "file", Files(f))
	require.Equal(t, "inherited contents", c.Line(t))
	c.WaitOK(t)
}

func TestKill(t *testing.T) {
	c := Spawn(t, "sleep")
	c.Expect(t, "ready")
	require.False(t, c.Exited())
	require.NoError(t, c.Kill())
	_, err := c.Wait()
	require.ErrorContains(t, err, "killed")
	require.True(t, c.Exited())
	require.Equal(t, -1, c.ExitCode(), "killed by a signal")
	require.NoError(t, c.Kill(), "killing an exited child does nothing")
}

func TestWaitTimeoutKills(t *testing.T) {
	defer func(d time.Duration) { waitTimeout = d }(waitTimeout)
	waitTimeout = 300 * time.Millisecond
	c := Spawn(t, "sleep")
	_, err := c.Wait()
	require.ErrorContains(t, err, "timed out")
	require.True(t, c.Exited(), "a child that overran was killed and reaped")
}

func TestSpawnCleanupKills(t *testing.T) {
	var pid int
	t.Run("inner", func(t *testing.T) {
		c := Spawn(t, "sleep")
		c.Expect(t, "ready")
		pid = c.PID()
	})
	// The inner test's cleanup killed and reaped its child.
	st, err := proc.StartTime(pid)
	require.True(t, err != nil || st == 0, "child %d still exists after its test ended", pid)
	alive, err := proc.Alive(proc.ID{PID: pid})
	require.NoError(t, err)
	require.False(t, alive)
}

func TestRunNWaitsForAll(t *testing.T) {
	r := &recorder{TB: t}
	RunN(r, 3, "fail")
	require.Equal(t, 3, strings.Count(r.failed, "child: as asked"), "every failure is reported: %s", r.failed)
}

func TestPoll(t *testing.T) {
	var flag atomic.Bool
	go func() { flag.Store(true) }()
	WaitFor(t, "the flag", flag.Load)

	defer func(d time.Duration) { pollTimeout = d }(pollTimeout)
	pollTimeout = 50 * time.Millisecond
	err := Poll("nothing", func() bool { return false })
	require.ErrorContains(t, err, "waiting for nothing")
}

func TestLeakedDescriptorFailsTheRun(t *testing.T) {
	c := Spawn(t, "leak-fd")
	_, err := c.Wait()
	require.Error(t, err)
	require.Equal(t, 1, c.ExitCode())
	require.Contains(t, c.Stderr(), "leaked")
	require.Regexp(t, `file descriptor \d+ -> /dev/null`, c.Stderr())
}

func TestLeakedChildFailsTheRunAndIsKilled(t *testing.T) {
	c := Spawn(t, "leak-child")
	var pid int
	_, err := fmt.Sscanf(c.Line(t), "grandchild %d", &pid)
	require.NoError(t, err)
	_, err = c.Wait()
	require.Error(t, err)
	require.Equal(t, 1, c.ExitCode())
	require.Contains(t, c.Stderr(), fmt.Sprintf(`child process %d (role "sleep", running)`, pid))
	// The check killed it: it does not live on as an orphan.
	WaitFor(t, "the leaked grandchild to die", func() bool {
		alive, err := proc.Alive(proc.ID{PID: pid})
		return err == nil && !alive
	})
}

func TestFailedTestsKeepTheirStatus(t *testing.T) {
	c := Spawn(t, "leak-failed")
	_, _ = c.Wait()
	require.Equal(t, 7, c.ExitCode())
	require.Contains(t, c.Stderr(), "/dev/null", "leaks are reported even then")
}

func TestCleanRunPasses(t *testing.T) {
	for _, role := range []string{"clean", "after-run"} {
		c := Spawn(t, role)
		out, err := c.Wait()
		require.NoError(t, err, "%s: %s", role, out)
		require.NotContains(t, out, "leaked")
	}
}

func TestLeaksSince(t *testing.T) {
	me := proc.ID{PID: 10, Start: 1}
	before := snapshot{fds: map[int]string{0: "/dev/null", 5: "pipe:[1]"}, children: map[proc.ID]bool{me: false}}
	now := snapshot{
		fds: map[int]string{
			0: "/dev/null",
			5: "pipe:[2]", // reused number, another file
			7: "anon_inode:[eventpoll]",
			8: "anon_inode:[eventfd]",
			9: "/tmp/x",
		},
		children: map[proc.ID]bool{me: false, {PID: 11, Start: 2}: true},
	}
	var got []string
	for _, l := range leaksSince(before, now) {
		got = append(got, l.what)
	}
	require.Equal(t, []string{
		"child process 11 (exited, never reaped)",
		"file descriptor 5 -> pipe:[2]",
		"file descriptor 9 -> /tmp/x",
	}, got)
	require.Empty(t, leaksSince(before, before))
}

func TestChildRole(t *testing.T) {
	c := Spawn(t, "sleep")
	c.Expect(t, "ready")
	require.Equal(t, "sleep", childRole(c.PID()))
	require.Equal(t, "", childRole(1<<22+7))
	require.Equal(t, "", childRole(os.Getpid()), "the test process has no role")
	require.NoError(t, c.Kill())
	_, _ = c.Wait()
	require.NoError(t, killChild(proc.ID{PID: c.PID(), Start: 1}), "a gone child is not an error")
}

func TestFutexSleepersInProcess(t *testing.T) {
	var word atomic.Uint32
	addr := (*uint32)(unsafe.Pointer(&word))
	n, err := FutexSleepers(os.Getpid(), uintptr(unsafe.Pointer(addr)))
	require.NoError(t, err)
	require.Zero(t, n)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			for word.Load() == 0 {
				_ = futex.Wait(addr, 0, Timeout)
			}
			done <- struct{}{}
		}()
	}
	WaitAsleep(t, 2, os.Getpid(), uintptr(unsafe.Pointer(addr)))
	other := uintptr(unsafe.Pointer(addr)) + 4
	n, err = FutexSleepers(os.Getpid(), other)
	require.NoError(t, err)
	require.Zero(t, n, "sleepers are counted per word")
	word.Store(1)
	_, err = futex.Wake(addr, 2)
	require.NoError(t, err)
	for range 2 {
		<-done
	}
	n, err = FutexSleepers(os.Getpid(), uintptr(unsafe.Pointer(addr)))
	require.NoError(t, err)
	require.Zero(t, n)

	// WhenAsleep calls its function once the sleeper is there.
	word.Store(0)
	go func() {
		for word.Load() == 0 {
			_ = futex.Wait(addr, 0, Timeout)
		}
		done <- struct{}{}
	}()
	wake := WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(addr)), func() {
		word.Store(1)
		_, _ = futex.Wake(addr, 1)
	})
	<-done
	require.NoError(t, wake())

	// Nobody sleeps on a word that is never waited on: WaitAsleep fails.
	defer func(d time.Duration) { pollTimeout = d }(pollTimeout)
	pollTimeout = 50 * time.Millisecond
	r := &recorder{TB: t}
	WaitAsleep(r, 1, os.Getpid(), other)
	require.Contains(t, r.failed, "to sleep on the futex word")
	called := false
	err = WhenAsleep(1, os.Getpid(), other, func() { called = true })()
	require.ErrorContains(t, err, "to sleep on the futex word")
	require.True(t, called, "f runs even when nobody fell asleep")
}

func TestFutexSleepersOfAChild(t *testing.T) {
	c := Spawn(t, "futex-sleep")
	var addr uintptr
	_, err := fmt.Sscanf(c.Line(t), "%v", &addr)
	require.NoError(t, err)
	WaitAsleep(t, 1, c.PID(), addr)
	require.NoError(t, c.Kill())
	_, _ = c.Wait()
	_, err = FutexSleepers(c.PID(), addr)
	require.Error(t, err, "a reaped child has no tasks")
}

func TestMappedAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mapped")
	require.NoError(t, os.WriteFile(path, make([]byte, 4096), 0o600))
	c := Spawn(t, "map-file", Env("MAP_PATH="+path))
	var want uintptr
	_, err := fmt.Sscanf(c.Line(t), "%v", &want)
	require.NoError(t, err)
	got, err := MappedAt(c.PID(), path)
	require.NoError(t, err)
	require.Equal(t, want, got)
	other := path + "-not-mapped"
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	_, err = MappedAt(c.PID(), other)
	require.ErrorContains(t, err, "does not map")
	_, err = MappedAt(c.PID(), path+"-missing")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, c.CloseStdin())
	c.WaitOK(t)
}

// recorder is a testing.TB that records a fatal failure instead of ending
// the test, to test the helpers' failure paths.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Fatal(args ...any)         { r.failed += fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed += fmt.Sprintf(f, a...) }
