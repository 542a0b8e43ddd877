package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, child)
}

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
		if err := teamtest.Report(strconv.Itoa(os.Getpid()), strconv.Itoa(p.PID())); err != nil {
			return err
		}
		time.Sleep(time.Minute)
		return errors.New("not killed within a minute")
	}
	return fmt.Errorf("unknown role %q", role)
}
