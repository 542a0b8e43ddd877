//go:build !mpi

package mpi

import (
	"testing"

	"github.com/shmpar/shmpar/mpi/exact"
	"github.com/stretchr/testify/require"
)

// initSingle initialises the single-rank build for one test and forgets
// it afterwards (a real MPI cannot be initialised twice; this build can).
func initSingle(t *testing.T) *Comm {
	t.Helper()
	reset := func() {
		state.mu.Lock()
		state.world = nil
		state.finalized.Store(false)
		state.mu.Unlock()
	}
	reset()
	t.Cleanup(reset)
	w, err := Init()
	require.NoError(t, err)
	return w
}

func TestSingleRankCollectives(t *testing.T) {
	w := initSingle(t)
	require.Equal(t, 0, w.Rank())
	require.Equal(t, 1, w.Size())
	require.NoError(t, w.Barrier())

	buf := []float64{1.5, -2}
	require.NoError(t, Bcast(w, buf, 0))
	require.NoError(t, Allreduce(w, buf, Sum))
	require.Equal(t, []float64{1.5, -2}, buf)
	ints := []int16{7, -7}
	require.NoError(t, Allreduce(w, ints, Max))
	require.Equal(t, []int16{7, -7}, ints)

	got := make([]uint32, 3)
	require.NoError(t, Allgather(w, []uint32{1, 2, 3}, got))
	require.Equal(t, []uint32{1, 2, 3}, got)
	gotv := make([]int64, 2)
	require.NoError(t, Allgatherv(w, []int64{4, 5}, gotv, []int{2}))
	require.Equal(t, []int64{4, 5}, gotv)

	recv := make([]float32, 4)
	n, err := Sendrecv(w, []float32{1, 2}, 0, recv, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, []float32{1, 2, 0, 0}, recv)
	n, err = Sendrecv(w, []float32{1, 2}, ProcNull, recv[:1], ProcNull, 0)
	require.NoError(t, err)
	require.Zero(t, n)

	lo, hi := w.Share(12345)
	require.Equal(t, [2]int{0, 12345}, [2]int{lo, hi})

	var a exact.Acc
	a.AddSlice([]float64{1e100, 1, -1e100})
	require.NoError(t, w.AllreduceExact(&a))
	require.Equal(t, 1.0, a.Float64())

	require.NoError(t, Finalize())
	require.ErrorIs(t, w.Barrier(), ErrFinalized)
	require.ErrorIs(t, Allreduce(w, buf, Sum), ErrFinalized)
	require.ErrorIs(t, Finalize(), ErrFinalized)
	_, err = Init()
	require.ErrorIs(t, err, ErrFinalized)
}

func TestSingleRankBadArguments(t *testing.T) {
	w := initSingle(t)
	_, err := Init()
	require.ErrorIs(t, err, ErrInitialized)
	require.ErrorIs(t, Bcast(w, []int{1}, 1), ErrRank)
	require.ErrorIs(t, Bcast(w, []int{1}, -1), ErrRank)
	require.ErrorIs(t, Allreduce(w, []int{1}, Op(9)), ErrOp)
	require.ErrorIs(t, Allreduce(w, []int{1}, 0), ErrOp)
	require.ErrorIs(t, Allgather(w, []int{1, 2}, make([]int, 3)), ErrCount)
	require.ErrorIs(t, Allgatherv(w, []int{1, 2}, make([]int, 2), []int{2, 0}), ErrCount, "one count per rank")
	require.ErrorIs(t, Allgatherv(w, []int{1, 2}, make([]int, 2), []int{1}), ErrCount, "own count must match send")
	require.ErrorIs(t, Allgatherv(w, []int{1, 2}, make([]int, 3), []int{2}), ErrCount, "recv must hold the sum")
	_, err = Sendrecv(w, []int{1}, 1, nil, 0, 0)
	require.ErrorIs(t, err, ErrRank)
	_, err = Sendrecv(w, []int{1}, 0, nil, -2, 0)
	require.ErrorIs(t, err, ErrRank)
	_, err = Sendrecv(w, []int{1}, 0, make([]int, 1), 0, -1)
	require.ErrorIs(t, err, ErrTag)
	_, err = Sendrecv(w, []int{1, 2}, 0, make([]int, 1), 0, 0)
	require.ErrorIs(t, err, ErrTruncate)
	_, err = Sendrecv(w, []int{1}, ProcNull, make([]int, 1), 0, 0)
	require.Error(t, err, "a receive nobody sends to must not pretend to succeed")
}

// TestSingleRankRefusesLauncher checks that a binary built without the mpi
// tag does not quietly run as a world of one under a launcher that started
// several ranks.
func TestSingleRankRefusesLauncher(t *testing.T) {
	for k, v := range map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"} {
		t.Setenv(k, v)
	}
	state.mu.Lock()
	state.world = nil
	state.finalized.Store(false)
	state.mu.Unlock()
	_, err := Init()
	require.ErrorIs(t, err, ErrSingleRank)
	require.Contains(t, err.Error(), "Open MPI started 2 ranks")

	t.Setenv("OMPI_COMM_WORLD_RANK", "0")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "1")
	w := initSingle(t)
	require.Equal(t, 1, w.Size(), "a launcher's world of one is fine")
}

// BenchmarkCallChecks measures what this package adds to an MPI call before
// it reaches C: the checks and the datatype lookup (the single-rank
// Allreduce does nothing after them).
func BenchmarkCallChecks(b *testing.B) {
	state.mu.Lock()
	state.world = nil
	state.finalized.Store(false)
	state.mu.Unlock()
	w, err := Init()
	if err != nil {
		b.Fatal(err)
	}
	buf := []float64{1}
	for b.Loop() {
		if err := Allreduce(w, buf, Sum); err != nil {
			b.Fatal(err)
		}
	}
}
