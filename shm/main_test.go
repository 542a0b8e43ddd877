//go:build linux

package shm

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary play a second process (see testproc); the
// Attach cache is emptied before the leak check.
func TestMain(m *testing.M) { testproc.Main(m, runChild, testproc.AfterRun(releaseAll)) }

// startChild starts the test binary in role with env ("K=V") and extra
// files (fd 3, 4, ...); testproc kills and reaps it when the test ends.
func startChild(t *testing.T, role string, env []string, files ...*os.File) *testproc.Child {
	t.Helper()
	return testproc.Spawn(t, role, testproc.Env(env...), testproc.Files(files...))
}

// waitOK closes the child's stdin (a role that holds something until then
// lets go) and waits for it to exit with success.
func waitOK(t *testing.T, c *testproc.Child) {
	t.Helper()
	require.NoError(t, c.CloseStdin())
	c.WaitOK(t)
}

// runChild is the body of the child process for role. Results go to stdout,
// one line each.
func runChild(role string) error {
	switch role {
	case "write": // open a named segment, check the parent's pattern, write ours
		s, err := Open(os.Getenv("SHM_NAME"), Dir(os.Getenv("SHM_DIR")))
		if err != nil {
			return err
		}
		defer s.Close()
		if err := checkPattern(s.Data(), 1); err != nil {
			return err
		}
		fillPattern(s.Data(), 2)
		fmt.Println("ok")
	case "inherit": // a memfd segment inherited as fd 3
		f := os.NewFile(3, "inherited")
		s, err := OpenFile(f)
		f.Close()
		if err != nil {
			return err
		}
		defer s.Close()
		if err := checkPattern(s.Data(), 1); err != nil {
			return err
		}
		fillPattern(s.Data(), 2)
		fmt.Println("ok", s.Name(), s.Meta().Kind)
	case "attach": // attach to a path twice; expect one mapping
		s, err := Attach(os.Getenv("SHM_PATH"))
		if err != nil {
			return err
		}
		s2, err := Attach(os.Getenv("SHM_PATH"))
		if err != nil {
			return err
		}
		if s != s2 {
			return fmt.Errorf("Attach returned two segments for one path")
		}
		if err := checkPattern(s.Data(), 1); err != nil {
			return err
		}
		fillPattern(s.Data(), 2)
		fmt.Println("ok", s.Name())
	case "create-and-wait": // create segments, then wait to be killed
		dir := os.Getenv("SHM_DIR")
		m := Meta{DType: Float64, Shape: []int{100}, Kind: KindArray}
		for _, c := range []struct {
			name string
			opts []Option
		}{{"leaked", nil}, {"kept", []Option{Persistent()}}} {
			if _, err := Create(c.name, m, append(c.opts, Dir(dir))...); err != nil {
				return err
			}
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin) // until the parent kills us or closes stdin
	case "anon-hold": // create an anonymous segment and hold it until stdin closes
		s, err := CreateAnon("held", Meta{DType: Uint8, Shape: []int{10000}})
		if err != nil {
			return err
		}
		fillPattern(s.Data(), 1)
		fmt.Println(s.Path())
		io.Copy(io.Discard, os.Stdin)
		s.Close()
	case "attach-ref": // attach through an encoded reference, check and write
		s, err := AttachRef([]byte(os.Getenv("SHM_REF")), KindArray, Float64)
		if err != nil {
			return err
		}
		if err := checkPattern(s.Data(), 5); err != nil {
			return err
		}
		fillPattern(s.Data(), 2)
		fmt.Println("ok")
	case "open-fill": // open $SHM_NAME and write pattern 7 over every byte; or print Open's error
		s, err := Open(os.Getenv("SHM_NAME"), Dir(os.Getenv("SHM_DIR")))
		if err != nil {
			fmt.Println(describeErr(err))
			return nil
		}
		defer s.Close()
		fillPattern(s.Data(), 7)
		fmt.Println("ok")
	case "remove-paused":
		return removePaused()
	case "no-spare-fds":
		return noSpareDescriptors()
	case "as-nobody":
		return asNobody()
	default:
		if chaosRole != nil {
			if handled, err := chaosRole(role); handled {
				return err
			}
		}
		return fmt.Errorf("unknown child role %q", role)
	}
	return nil
}

// chaosRole runs the child roles of the chaos scenarios (chaos_test.go,
// build tag chaos); it is nil in other builds.
var chaosRole func(role string) (handled bool, err error)

// fillPattern writes a pattern that depends on seed into b.
func fillPattern(b []byte, seed int) {
	for i := range b {
		b[i] = byte(i*seed + seed)
	}
}

// checkPattern reports whether b holds fillPattern(b, seed).
func checkPattern(b []byte, seed int) error {
	for i := range b {
		if b[i] != byte(i*seed+seed) {
			return fmt.Errorf("byte %d is %d, want %d (pattern %d)", i, b[i], byte(i*seed+seed), seed)
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }
