package pool_test

import (
	"fmt"
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error {
		if chaosRole != nil {
			return chaosRole(role)
		}
		return fmt.Errorf("no child role %q in these tests", role)
	})
}

// chaosRole runs the child roles of the chaos scenarios (chaos_test.go,
// build tag chaos).
var chaosRole func(role string) error

// noopK is a kernel that does nothing: For on a pool's team.
var noopK = engine.Register("pool-test-noop", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })
