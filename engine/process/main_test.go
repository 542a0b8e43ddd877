package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, child)
}

// envReport names the file a child role reports to (see awaitReport).
const envReport = "SHMPAR_TEST_REPORT"

// child runs the test binary's child roles.
func child(role string) error {
	switch role {
	case "exit0":
		return nil
	case "spawn-parent":
		// Start a process, report both pids, and wait to be killed.
		p, err := sleepP.Start(context.Background(), struct{}{}, process.Stdout(nil))
		if err != nil {
			return err
		}
		if err := report(fmt.Sprintf("parent %d\npid %d\nready\n", os.Getpid(), p.PID())); err != nil {
			return err
		}
		time.Sleep(time.Minute)
		return errors.New("not killed within a minute")
	}
	return fmt.Errorf("unknown role %q", role)
}

// report writes s to the file named by envReport, at once.
func report(s string) error {
	return os.WriteFile(os.Getenv(envReport), []byte(s), 0o600)
}

// awaitReport waits (at most 60 s) until the file at path holds a report
// that ends in "ready", and returns its lines.
func awaitReport(t *testing.T, path string) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "ready\n") {
			return strings.Split(strings.TrimSpace(string(b)), "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready report in %s after 60 s (%q, %v)", path, b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
