package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/proc"
)

// roles are the child processes the tests start (the test binary run again
// with SHMPAR_TEST_CHILD set).
var roles = map[string]func() int{
	"coord": runCoordinator,
}

// runNoMain is a program that forgot engine.Main: it starts a team. In the
// coordinator Start must fail with ErrNoMain; in the re-executed workers
// (which run this again) Start must end the process at once.
func runNoMain() int {
	_, err := engine.Start(engine.Config{Workers: 2, HelloTimeout: 30 * time.Second})
	fmt.Printf("start error: %v\n", err)
	return 0
}

// runCoordinator starts a team, prints its workers' pids and waits to be
// killed.
func runCoordinator() int {
	team, err := engine.Start(engine.Config{Workers: 2})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if err := printPIDK.For(context.Background(), team, 2, struct{}{}, engine.Static()); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	return 0
}

// child starts the test binary in a role.
func child(t *testing.T, role string, env ...string) *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envChild+"="+role), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// runBounded runs cmd to its end, at most 60 s (then fails the test with
// hung), requires it to succeed, and returns its stdout.
func runBounded(t *testing.T, cmd *exec.Cmd, hung string) string {
	t.Helper()
	var out, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "stderr: %s", stderr.String())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal(hung)
	}
	return out.String()
}

func TestForgottenMain(t *testing.T) {
	got := runBounded(t, child(t, "nomain"), "a program without engine.Main hung in Start")
	require.Contains(t, got, "start error:")
	require.Contains(t, got, engine.ErrNoMain.Error())
	require.Contains(t, got, "Start called in a process shmpar started (a worker)", "the worker's own message is quoted")
	require.Equal(t, 1, strings.Count(got, "start error:"), "workers must not print: they exit in Start")
}

func TestCoordinatorKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, "coord", "SHMPAR_DIR="+dir)
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
	var pids []int
	timeout := time.After(60 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "child exited before it was ready")
			if p, ok := strings.CutPrefix(l, "pid "); ok {
				pid, err := strconv.Atoi(p)
				require.NoError(t, err)
				pids = append(pids, pid)
			}
			require.NotContains(t, l, "error")
			if l == "ready" {
				break wait
			}
		case <-timeout:
			t.Fatal("child coordinator did not get ready")
		}
	}
	require.Len(t, pids, 2)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for {
			alive, err := proc.Alive(proc.ID{PID: pid})
			require.NoError(t, err)
			if !alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still alive 2s after its coordinator was killed", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, ents, "the team left files in the segment directory")
}
