package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// TestMain lets the test binary act as shmctl itself (role "main", with the
// command line passed as testproc.Args), or as a process that creates a
// segment and is then killed.
func TestMain(m *testing.M) {
	testproc.Main(m, func(role string) error {
		switch role {
		case "main":
			os.Exit(run(testproc.ChildArgs(), os.Stdout, os.Stderr))
		case "create-and-hang":
			a, err := array.Create[float64]("orphan", 10, shm.Dir(os.Getenv("SHMCTL_TEST_DIR")))
			if err != nil {
				return err
			}
			_ = a
			fmt.Println("ready")
			_, _ = io.Copy(io.Discard, os.Stdin) // until killed by the test
			return errors.New("was not killed")
		}
		return fmt.Errorf("unknown role %q", role)
	})
}

// shmctl runs the test binary as the shmctl command and returns stdout,
// stderr and the exit status.
func shmctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	c := testproc.Spawn(t, "main", testproc.Args(args...))
	if _, err := c.Wait(); err != nil && c.ExitCode() < 0 {
		t.Fatalf("shmctl %v: %v", args, err)
	}
	return c.Stdout(), c.Stderr(), c.ExitCode()
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

	c := testproc.Spawn(t, "create-and-hang", testproc.Env("SHMCTL_TEST_DIR="+dir))
	c.Expect(t, "ready")
	require.NoError(t, c.Kill())
	_, err := c.Wait()
	require.Error(t, err)

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

// TestListQuotesHostileNames checks that a segment file another tool gave a
// name with a newline, a terminal escape or a space cannot forge, hide or
// split a line of the listing: such names are printed as Go string literals.
func TestListQuotesHostileNames(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := shmctl(t, "create", "plain", "-shape", "4", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	forged := "x\nforged  array  float64  (4)  12288  1  yes  no  dev-shm-forged"
	names := []string{"bad\xffutf8", "esc\x1b[2Khidden", "plain", "two words", forged} // in List's order
	for _, name := range names {
		if name != "plain" {
			require.NoError(t, os.Link(filepath.Join(dir, "plain"), filepath.Join(dir, name)))
		}
	}
	out, errOut, code := shmctl(t, "ls", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 6, "a header and one line per segment:\n%s", out)
	require.NotContains(t, out, "\x1b")
	require.NotContains(t, out, "\xff")
	for i, name := range names {
		wantName, wantPath := strconv.Quote(name), strconv.Quote(filepath.Join(dir, name))
		if name == "plain" {
			wantName, wantPath = name, filepath.Join(dir, name)
		}
		require.True(t, strings.HasPrefix(lines[i+1], wantName+" "), "line %d %q, want it to start with %s", i+1, lines[i+1], wantName)
		require.True(t, strings.HasSuffix(lines[i+1], " "+wantPath), "line %d %q, want it to end with %s", i+1, lines[i+1], wantPath)
	}
	// Such names are refused as segment names, with the name quoted.
	_, errOut, code = shmctl(t, "rm", forged, "-dir", dir)
	require.Equal(t, 1, code)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, strconv.Quote(forged))
}

func TestForeignNeedsAllowForeign(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to chown a file to another user (running as uid %d)", os.Geteuid())
	}
	dir := t.TempDir()
	_, errOut, code := shmctl(t, "create", "theirs", "-shape", "4", "-fill", "2", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	path := filepath.Join(dir, "theirs")
	require.NoError(t, os.Chown(path, 65534, 65534))

	_, errOut, code = shmctl(t, "inspect", "theirs", "-dir", dir)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "foreign segment: owned by uid 65534")
	out, errOut, code := shmctl(t, "inspect", "theirs", "-dir", dir, "-allow-foreign")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "sum:        8")

	_, errOut, code = shmctl(t, "rm", "theirs", "-dir", dir)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "foreign segment")
	require.FileExists(t, path)
	_, errOut, code = shmctl(t, "rm", "theirs", "-dir", dir, "-allow-foreign")
	require.Equal(t, 0, code, errOut)
	require.NoFileExists(t, path)
}

// TestMap lists a shmap map as a map, and inspect prints its types,
// capacity and number of keys instead of byte statistics.
func TestMap(t *testing.T) {
	dir := t.TempDir()
	m, err := shmap.Create[string, float64]("scores", 100, shmap.Dir(dir), shmap.MaxKeyLen(20), shmap.Stripes(4))
	require.NoError(t, err)
	defer m.Close()
	for _, k := range []string{"alice", "bob", "carol"} {
		require.NoError(t, m.Store(k, 1))
	}
	out, errOut, code := shmctl(t, "ls", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Equal(t, []string{"scores", "map", "uint8"}, strings.Fields(lines[1])[:3], out)

	out, errOut, code = shmctl(t, "inspect", "scores", "-dir", dir)
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"kind:       map\n", fmt.Sprintf("map:        version %d, 4 stripes\n", shmap.Version), "keys:       string (at most 20 bytes)\n",
		"values:     float64 (8 bytes)\n", "capacity:   100\n", "len:        3\n"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "sum:")
}
