package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newArray[T array.Element](t testing.TB, n int) *array.Array[T] {
	t.Helper()
	a, err := array.CreateAnon[T](n)
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

func TestSmoke(t *testing.T) {
	team := startTeam(t, engine.Config{Workers: 2})
	a := newArray[int64](t, 1000)
	require.NoError(t, team.For(testCtx(t), "fill", 1000, fillArgs{A: a}))
	for i, v := range a.Data()[:1000] {
		require.EqualValues(t, 1, v, "element %d", i)
	}
}
