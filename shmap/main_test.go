//go:build linux

package shmap_test

import (
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

// TestMain lets the test binary play other processes (see testproc and
// proc_test.go), and be an engine program whose worker and spawned
// processes get maps in their arguments (engine_test.go): engine.Main comes
// first, and serves in those processes.
func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, child)
}

// chaosRole, set by chaos_test.go (build tag chaos), runs the chaos
// scenarios' child roles; it reports false for a role that is not one.
var chaosRole func(role string) (bool, error)
