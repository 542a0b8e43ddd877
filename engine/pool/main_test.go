package pool_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	engine.Main()
	testproc.Main(m, func(role string) error { return fmt.Errorf("no child role %q in these tests", role) })
}

// noopK is a kernel that does nothing: For on a pool's team.
var noopK = engine.Register("pool-test-noop", func(c *engine.Ctx, _ struct{}, lo, hi int) error { return nil })

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newArray[T array.Element](t testing.TB, n int) *array.Array[T] {
	t.Helper()
	a, err := array.CreateAnon[T](max(n, 1))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a
}

func startTeam(t *testing.T, cfg engine.Config) *engine.Team {
	t.Helper()
	team, err := engine.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, team.Close()) })
	return team
}
