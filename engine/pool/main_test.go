package pool_test

import (
	"fmt"
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error { return fmt.Errorf("no child role %q in these tests", role) })
}

// noopK is a kernel that does nothing: For on a pool's team.
var noopK = engine.Register("pool-test-noop", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })
