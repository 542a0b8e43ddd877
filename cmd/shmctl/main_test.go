package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/shm"
)

// TestMain lets the test binary act as shmctl itself (SHMCTL_AS_MAIN=1), or
// as a process that creates a segment and is then killed.
func TestMain(m *testing.M) {
	switch os.Getenv("SHMCTL_TEST_ROLE") {
	case "main":
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	case "create-and-hang":
		a, err := array.Create[float64]("orphan", 10, shm.Dir(os.Getenv("SHMCTL_TEST_DIR")))
		if err != nil {
			os.Exit(2)
		}
		_ = a
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute) // killed by the test
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// shmctl runs the test binary as the shmctl command and returns stdout,
// stderr and the exit status.
func shmctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", args...)
	cmd.Env = append(os.Environ(), "SHMCTL_TEST_ROLE=main")
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("shmctl %v timed out", args)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func TestCreateInspectListRemove(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := shmctl(t, "create", "grid", "-dtype", "float64", "-shape", "100,10", "-fill", "1.5", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, filepath.Join(dir, "grid")+"\n", out)

	a, err := array.Open[float64]("grid", shm.Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []int{100, 10}, a.Shape())
	a.Data()[0] = -2
	a.Data()[999] = 9
	a.Close()

	out, errOut, code = shmctl(t, "inspect", "grid", "-dir", dir, "-head", "3")
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"dtype:      float64 (<f8)", "shape:      (100,10)", "count:      1000",
		"min:        -2", "max:        9", "sum:        1504", "head:       [-2 1.5 1.5]"} {
		require.Contains(t, out, want)
	}

	out, errOut, code = shmctl(t, "ls", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "grid")
	require.Contains(t, out, "(100,10)")
	require.Contains(t, out, "float64")

	out, errOut, code = shmctl(t, "rm", "grid", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "removed")
	_, err = os.Stat(filepath.Join(dir, "grid"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestIntegerFillAndStats(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := shmctl(t, "create", "-dtype", "int16", "-shape", "4", "-fill", "-7", "-dir", dir, "small")
	require.Equal(t, 0, code, errOut)
	out, errOut, code := shmctl(t, "inspect", "small", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "sum:        -28")
	require.Contains(t, out, "head:       [-7 -7 -7 -7]")
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello, not a segment\n"), 0o600))
	_, _, code := shmctl(t, "create", "x", "-dtype", "float64", "-shape", "4", "-dir", dir)
	require.Equal(t, 0, code)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"create", "y", "-dtype", "float128", "-shape", "4", "-dir", dir}, "unknown dtype"},
		{[]string{"create", "y", "-shape", "4,0", "-dir", dir}, "not a positive dimension"},
		{[]string{"create", "y", "-dir", dir}, "-shape is required"},
		{[]string{"create", "../y", "-shape", "4", "-dir", dir}, "name"},
		{[]string{"create", "x", "-shape", "4", "-dir", dir}, "exist"},
		{[]string{"create", "z", "-dtype", "int8", "-shape", "4", "-fill", "300", "-dir", dir}, "not an int8"},
		{[]string{"inspect", "missing", "-dir", dir}, "missing"},
		{[]string{"inspect", "notes.txt", "-dir", dir}, "notes.txt"},
		{[]string{"rm", "notes.txt", "-dir", dir}, "notes.txt"},
		{[]string{"rm", "-dir", dir}, "at least one NAME"},
		{[]string{"ls", "-bogus"}, "bogus"},
	}
	for _, c := range cases {
		out, errOut, code := shmctl(t, c.args...)
		require.Equal(t, 1, code, "shmctl %v: stdout %q", c.args, out)
		require.Contains(t, errOut, c.want, "shmctl %v", c.args)
	}
	// A failed -fill leaves no half-made segment behind, and rm refused the text file.
	_, err := os.Stat(filepath.Join(dir, "z"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "notes.txt"))
	require.NoError(t, err)
}

func TestSweepRemovesSegmentsOfKilledProcesses(t *testing.T) {
	dir := t.TempDir()
	_, _, code := shmctl(t, "create", "kept", "-shape", "4", "-persistent", "-dir", dir)
	require.Equal(t, 0, code)

	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), "SHMCTL_TEST_ROLE=create-and-hang", "SHMCTL_TEST_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	buf := make([]byte, 6)
	ready := make(chan error, 1)
	go func() { _, err := stdout.Read(buf); ready <- err }()
	select {
	case err := <-ready:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not create its segment")
	}
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()

	out, errOut, code := shmctl(t, "sweep", "-dry-run", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "would remove "+filepath.Join(dir, "orphan"))
	require.NotContains(t, out, "kept")

	out, errOut, code = shmctl(t, "sweep", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "removed "+filepath.Join(dir, "orphan"))
	_, err = os.Stat(filepath.Join(dir, "orphan"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(dir, "kept"))
	require.NoError(t, err, "persistent segments survive a sweep")
}
