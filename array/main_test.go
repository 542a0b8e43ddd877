package array_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/shm"
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
	name := os.Getenv("SHMPAR_TEST_NAME")
	switch role {
	case "fill": // write i*3 into every element
		a, err := array.Open[float64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for i := range a.Data() {
			a.Data()[i] = float64(i) * 3
		}
		return nil
	case "check": // expect the parent's pattern i+0.5 and report the sum
		a, err := array.Open[float64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for i, x := range a.Data() {
			if x != float64(i)+0.5 {
				return fmt.Errorf("element %d is %v, want %v", i, x, float64(i)+0.5)
			}
		}
		fmt.Println("ok", a.Len())
		return nil
	case "locked-inc": // 100,000 non-atomic increments of element 0 under the array's Mutex
		a, err := array.Open[int64](name, shm.Dir(dir))
		if err != nil {
			return err
		}
		defer a.Close()
		for range 100_000 {
			if err := a.Mutex().Lock(); err != nil {
				return err
			}
			a.Data()[0]++
			if err := a.Mutex().Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}

// runChild runs the test binary in role and returns its stdout; it fails the
// test if the child fails or takes more than 60 s.
func runChild(t *testing.T, role, dir, name string) string {
	t.Helper()
	out, err := startChild(role, dir, name)()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", role, err, out)
	}
	return out
}

// startChild starts the test binary in role and returns a function that waits
// for it (at most 60 s) and returns its combined output.
func startChild(role, dir, name string) func() (string, error) {
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), "SHMPAR_TEST_CHILD="+role, "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME="+name)
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
