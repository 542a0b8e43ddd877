package main

import (
	"errors"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/shm"
)

// TestChecksumChains checks that Checksum is FNV-1a of the grid's bytes,
// and that hashing a grid in pieces, each from the state the previous one
// left (as the ranks do), gives the same.
func TestChecksumChains(t *testing.T) {
	u := make([]float64, 1000)
	for i := range u {
		u[i] = rand.NormFloat64()
	}
	u[7], u[8] = math.NaN(), math.Copysign(0, -1)
	h := fnv.New64a()
	for _, v := range u {
		x := math.Float64bits(v)
		h.Write([]byte{byte(x), byte(x >> 8), byte(x >> 16), byte(x >> 24), byte(x >> 32), byte(x >> 40), byte(x >> 48), byte(x >> 56)})
	}
	require.Equal(t, h.Sum64(), Checksum(u))
	for _, cuts := range [][]int{{0, 1000}, {0, 1, 1000}, {0, 333, 334, 999, 1000}} {
		s := uint64(fnvOffset)
		for k := 1; k < len(cuts); k++ {
			s = checksumFrom(s, u[cuts[k-1]:cuts[k]])
		}
		require.Equal(t, Checksum(u), s, "cuts %v", cuts)
	}
}

// TestSlabsEqualGrid steps the slabs of several ranks in one process,
// copying the halo rows between them as the exchange does, and checks the
// grid they make against the serial code, bit for bit, for every number
// of slabs up to n.
func TestSlabsEqualGrid(t *testing.T) {
	const n, steps = 23, 15
	want := Serial(n, steps)
	for size := 1; size <= n; size++ {
		slabs := make([]slab, size)
		data := make([][]float64, size)
		for r := range slabs {
			s := slabOf(n, r, size)
			require.Positive(t, s.rows())
			slabs[r], data[r] = s, make([]float64, 2*(s.rows()+2)*n)
			state, _ := s.buffers(data[r], 0)
			for i := s.r0; i < s.r1; i++ {
				initialRow(state[(i-s.r0+1)*n:(i-s.r0+2)*n], n, i)
			}
		}
		for st := range steps {
			for r, s := range slabs {
				src, _ := s.buffers(data[r], st%2)
				if r > 0 {
					above, _ := slabs[r-1].buffers(data[r-1], st%2)
					copy(src[:n], slabs[r-1].owned(above)[(slabs[r-1].rows()-1)*n:])
				}
				if r < size-1 {
					below, _ := slabs[r+1].buffers(data[r+1], st%2)
					copy(src[(s.rows()+1)*n:], slabs[r+1].owned(below)[:n])
				}
			}
			for r, s := range slabs {
				src, dst := s.buffers(data[r], st%2)
				SlabRows(dst, src, n, s.r0, s.r0, s.r1)
			}
		}
		var got []float64
		h := uint64(fnvOffset)
		for r, s := range slabs {
			state, _ := s.buffers(data[r], steps%2)
			got = append(got, s.owned(state)...)
			h = checksumFrom(h, s.owned(state))
		}
		requireBitwise(t, want, got)
		require.Equal(t, Checksum(want), h, "%d slabs", size)
	}
}

func TestSlabOfAndOwner(t *testing.T) {
	for _, n := range []int{3, 4, 67, 1000} {
		for size := 1; size <= min(n, 9); size++ {
			at := 0
			for r := range size {
				s := slabOf(n, r, size)
				require.Equal(t, at, s.r0)
				require.GreaterOrEqual(t, s.rows(), n/size)
				require.LessOrEqual(t, s.rows(), n/size+1)
				for i := s.r0; i < s.r1; i++ {
					require.Equal(t, r, owner(n, size, i))
				}
				at = s.r1
			}
			require.Equal(t, n, at)
		}
	}
}

// TestOtherLayout checks the error that -resume gives when the checkpoint
// in the directory was written by another number of ranks.
func TestOtherLayout(t *testing.T) {
	dir := t.TempDir()
	missing := errors.New("missing")
	require.Equal(t, missing, otherLayout(missing, dir, "heat", 2), "an empty directory")
	mk := func(name string) {
		a, err := array.Create[float64](name, 1, shm.Dir(dir))
		require.NoError(t, err)
		a.Close()
	}
	mk("heat.rank0of3")
	mk("heat.rank1of3")
	mk("other.rank0of2")
	err := otherLayout(missing, dir, "heat", 2)
	require.ErrorIs(t, err, ErrRanks)
	require.Contains(t, err.Error(), "was written by 3 ranks (mpirun -np 3), and this run has 2")
	require.Equal(t, missing, otherLayout(missing, dir, "heat", 3), "the same number of ranks: the file is just missing")
	mk("heat")
	err = otherLayout(missing, dir, "heat", 2)
	require.Contains(t, err.Error(), "a single process (no mpirun, or mpirun -np 1) and by 3 ranks (mpirun -np 3)")

	// The single-process run says so too.
	code, _, errOut := heat2d(t, "-dir", dir, "-name", "other", "-resume", "-steps", "3")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "other in "+dir+" was written by 2 ranks (mpirun -np 2), and this run has 1")
}
