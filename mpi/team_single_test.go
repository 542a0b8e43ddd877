//go:build !mpi

package mpi

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/stretchr/testify/require"
)

// startTeam starts a process team of two workers, closed when the test
// ends.
func startTeam(t *testing.T, w *Comm) *engine.Team {
	t.Helper()
	team, err := engine.Start(w.ShareNode(), engine.Workers(2))
	require.NoError(t, err)
	t.Cleanup(func() { team.Close() })
	return team
}

// TestReduceSingleRank checks every kind of reduction against its
// documented serial reference, in a world of one with a team of two.
func TestReduceSingleRank(t *testing.T) {
	w := initSingle(t)
	team := startTeam(t, w)
	ctx := context.Background()
	const n = 1_000_003
	got, err := reductions(ctx, w, team, n)
	require.NoError(t, err)
	want := serialReductions(t, n)
	require.Equal(t, want, got)

	// The reference is the exact sum of the partials, not their
	// left-to-right fold (which the data are made to round differently).
	loop, err := kFsum.Reduce(ctx, team, n, noFault(), engine.Sum[float64](), engine.Deterministic(Grain(n)))
	require.NoError(t, err)
	t.Logf("exact sum of partials %s, left-to-right fold %016x", got["fsum"], math.Float64bits(loop))
}

func TestForSingleRank(t *testing.T) {
	w := initSingle(t)
	team := startTeam(t, w)
	const n = 100_003
	x, err := array.CreateAnon[float64](n)
	require.NoError(t, err)
	defer x.Close()
	require.NoError(t, For(context.Background(), w, team, kFill, n, fillArgs{X: x, F: noFault()}))
	require.NoError(t, filled(x.Data(), 0, n))

	// A Range in opts is replaced by the rank's share.
	clear(x.Data())
	require.NoError(t, For(context.Background(), w, team, kFill, n, fillArgs{X: x, F: noFault()}, engine.Range(5, 10), engine.Dynamic(100)))
	require.NoError(t, filled(x.Data(), 0, n))
}

func TestReduceAndForErrors(t *testing.T) {
	w := initSingle(t)
	team := startTeam(t, w)
	ctx := context.Background()
	const n = 100_000

	failing := redArgs{Fail: 70_000, Panic: -1, Coord: os.Getpid()}
	_, err := Reduce(ctx, w, team, kFsum, n, failing, Sum)
	var we *engine.WorkerError
	require.ErrorAs(t, err, &we)
	require.Contains(t, err.Error(), "test failure in the chunk")
	require.NotErrorIs(t, err, ErrOtherRank, "this rank's own error")

	panicking := redArgs{Fail: -1, Panic: 3, Coord: os.Getpid()}
	_, err = Reduce(ctx, w, team, kFmin, n, panicking, Min)
	require.ErrorAs(t, err, &we)
	var pe *engine.PanicError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, pe.Value, "test panic")
	require.Contains(t, we.Stack, "mpi.redArgs.fault", "the worker's stack")

	_, err = Reduce(ctx, w, team, kIsum, n, failing, Sum)
	require.ErrorAs(t, err, &we)
	_, err = Reduce(ctx, w, team, kFsum, -1, noFault(), Sum)
	require.ErrorIs(t, err, engine.ErrBadRange)
	_, err = Reduce(ctx, w, team, kFsum, n, noFault(), Op(7))
	require.ErrorIs(t, err, ErrOp)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = Reduce(cancelled, w, team, kFmax, n, noFault(), Max)
	require.ErrorIs(t, err, context.Canceled)

	x, err := array.CreateAnon[float64](n)
	require.NoError(t, err)
	defer x.Close()
	err = For(ctx, w, team, kFill, n, fillArgs{X: x, F: failing})
	require.ErrorAs(t, err, &we)
	require.Contains(t, err.Error(), "test failure")
	require.ErrorIs(t, For(ctx, w, team, kFill, -3, fillArgs{X: x, F: noFault()}), engine.ErrBadRange)

	// The team still works.
	v, err := Reduce(ctx, w, team, kIsum, n, noFault(), Sum)
	require.NoError(t, err)
	want, err := kIsum.Reduce(ctx, team, n, noFault(), engine.Sum[int64]())
	require.NoError(t, err)
	require.Equal(t, want, v)
}

func TestAgreeSingleRank(t *testing.T) {
	w := initSingle(t)
	require.NoError(t, w.Agree(nil))
	mine := errors.New("mine")
	require.Equal(t, mine, w.Agree(mine))
}

func TestNotInitialised(t *testing.T) {
	for _, c := range []*Comm{nil, {}} {
		_, err := Reduce(context.Background(), c, nil, kFsum, 10, noFault(), Sum)
		require.ErrorIs(t, err, ErrNotInit)
		require.ErrorIs(t, For(context.Background(), c, nil, kFill, 10, fillArgs{}), ErrNotInit)
		require.ErrorIs(t, c.Agree(nil), ErrNotInit)
	}
}

// TestShareNode checks the team ShareNode gives a lone rank: one worker
// per usable CPU, spinning unless those outnumber the node's CPUs; never
// spinning with more workers than CPUs, unless a Spin was set.
func TestShareNode(t *testing.T) {
	w := initSingle(t)
	rank, size := w.Node()
	require.Equal(t, [2]int{0, 1}, [2]int{rank, size})
	start := func(opts ...engine.TeamOption) *engine.Team {
		team, err := engine.Start(append(opts, engine.Goroutine)...)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, team.Close()) })
		return team
	}
	team := start(w.ShareNode())
	require.Equal(t, engine.UsableCPUs(), team.Workers())
	require.Equal(t, oversubscribed(1, team.Workers(), nodeCPUs()), team.Spin() < 0, "spin %v", team.Spin())

	team = start(w.ShareNode(), engine.Workers(4*nodeCPUs()), engine.Primary(true))
	require.Equal(t, 4*nodeCPUs(), team.Workers())
	require.Negative(t, team.Spin(), "more workers than CPUs: never spin")

	team = start(engine.Workers(4*nodeCPUs()), engine.Spin(5), w.ShareNode())
	require.EqualValues(t, 5, team.Spin(), "a Spin that was set is kept")

	var none *Comm
	team = start(none.ShareNode(), engine.Workers(nodeCPUs()))
	require.Positive(t, team.Spin(), "a nil Comm is a rank alone on its node")
}
