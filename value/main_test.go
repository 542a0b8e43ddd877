package value_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// TestMain lets the test binary play a second process: with SHMPAR_TEST_CHILD
// set it runs that role instead of the tests.
func TestMain(m *testing.M) {
	if role := os.Getenv("SHMPAR_TEST_CHILD"); role != "" {
		if err := child(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(role string) error {
	dir := os.Getenv("SHMPAR_TEST_DIR")
	switch role {
	case "add-int": // 1,000,000 atomic Add(1)
		v, err := value.Open[int64]("n", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 1_000_000 {
			v.Add(1)
		}
		return nil
	case "add-float": // 100,000 atomic Add(0.5): exact in float64
		v, err := value.Open[float64]("f", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 100_000 {
			v.Add(0.5)
		}
		return nil
	case "add-int16": // 30,000 Add(1) on a 16-bit value (a CAS loop on the containing word)
		v, err := value.Open[uint16]("h", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 30_000 {
			v.Add(1)
		}
		return nil
	case "locked": // 100,000 compound read-modify-writes under the Value's Mutex
		v, err := value.Open[int64]("m", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		for range 100_000 {
			if err := v.Mutex().Lock(); err != nil {
				return err
			}
			v.Store(v.Load() + 1) // not atomic on its own: the lock makes it so
			if err := v.Mutex().Unlock(); err != nil {
				return err
			}
		}
		return nil
	case "store":
		v, err := value.Open[float64]("s", shm.Dir(dir))
		if err != nil {
			return err
		}
		defer v.Close()
		fmt.Println(v.Load())
		v.Store(2.75)
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}

// startChild starts the test binary in role and returns a function that waits
// for it (at most 60 s) and returns its combined output.
func startChild(role, dir string) func() (string, error) {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMPAR_TEST_CHILD="+role, "SHMPAR_TEST_DIR="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return func() (string, error) { return "", err }
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return func() (string, error) {
		select {
		case err := <-done:
			return out.String(), err
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
			return out.String(), fmt.Errorf("timed out after 60s")
		}
	}
}

func runChildren(t *testing.T, role, dir string, n int) {
	t.Helper()
	var waits []func() (string, error)
	for range n {
		waits = append(waits, startChild(role, dir))
	}
	for _, w := range waits {
		out, err := w()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", role, err, out)
		}
	}
}
