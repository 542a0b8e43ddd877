package engine_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/shmpar/shmpar/engine"
)

// envChild selects a child role of the test binary (see roles).
const envChild = "SHMPAR_TEST_CHILD"

func TestMain(m *testing.M) {
	// The "nomain" role forgets engine.Main on purpose: its worker processes
	// run this function again and reach engine.Start in runNoMain.
	if os.Getenv(envChild) == "nomain" {
		os.Exit(runNoMain())
	}
	engine.Main()
	if role := os.Getenv(envChild); role != "" {
		fn, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child role %q\n", role)
			os.Exit(2)
		}
		os.Exit(fn())
	}
	os.Exit(m.Run())
}
