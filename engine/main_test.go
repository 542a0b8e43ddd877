package engine_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

// envNoMain makes the test binary a program that forgets engine.Main (see
// runNoMain).
const envNoMain = "SHMPAR_TEST_NOMAIN"

func TestMain(m *testing.M) {
	// A program that forgot engine.Main: its worker processes run this
	// function again and reach engine.Start in runNoMain.
	if os.Getenv(envNoMain) != "" {
		os.Exit(runNoMain())
	}
	engine.Main()
	testproc.Main(m, child)
}

// roles are the test binary's child roles (files built with other tags
// add theirs at init).
var roles = map[string]func() error{
	"coord": runCoordinator,
}

// child runs the test binary's child roles.
func child(role string) error {
	if run, ok := roles[role]; ok {
		return run()
	}
	return fmt.Errorf("unknown role %q", role)
}
