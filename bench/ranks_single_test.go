//go:build !mpi

package bench

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/mpi"
)

// world is the test process's world of one rank (Init may run once).
var world = sync.OnceValues(mpi.Init)

// TestRunRanksOneRank runs every kernel through RunRanks on a world of one
// rank, in this process: the parts, the exact reductions, the verification
// of a part and the rows' fields. (The runs across real ranks are
// cmd/shmbench's mpirun tests.)
func TestRunRanksOneRank(t *testing.T) {
	w, err := world()
	require.NoError(t, err)
	rs, err := RunRanks(runCtx(t), w, Config{Sizes: smallSizes, Workers: []int{1, 2}, Reps: 2, Impls: Impls()}, nil)
	require.NoError(t, err)
	kernels := map[string]bool{}
	for _, r := range rs {
		require.True(t, r.Verified, "%s %s/%d: %v", r.Kernel, r.Backend, r.Workers, r.Err)
		require.Equal(t, 1, r.Ranks)
		require.Len(t, r.Samples, 2)
		require.NotNil(t, r.Speedup, "%s %s/%d", r.Kernel, r.Backend, r.Workers)
		require.InDelta(t, *r.Speedup/float64(r.Workers), *r.Efficiency, 1e-12)
		kernels[r.Name] = true
	}
	require.Len(t, kernels, len(Kernels()))

	// A fault is found in a run across ranks too.
	rs, err = RunRanks(runCtx(t), w, Config{Kernels: []string{"sum", "triad"}, Sizes: smallSizes, Workers: []int{2}, Reps: 1,
		Backends: []string{BackendProcess}, Impls: Impls(), Fault: "sum"}, []int{1})
	require.NoError(t, err)
	require.Len(t, rs, len(Impls())*2)
	for _, r := range rs {
		require.Equal(t, r.Name == "sum", r.Failed(), "%s: %v", r.Kernel, r.Err)
		if r.Name == "sum" {
			require.ErrorIs(t, r.Err, ErrMismatch)
		}
	}

	_, err = RunRanks(runCtx(t), w, Config{Kernels: []string{"sum"}}, []int{2})
	require.ErrorIs(t, err, ErrConfig, "more ranks than the job has")
}

// TestPartBlocks checks the parts of For kernels and of reductions: they
// are disjoint, cover [0, n) in rank order, and a rank past the row's size
// has none.
func TestPartBlocks(t *testing.T) {
	for _, n := range []int{1, 7, 1000, 1 << 20, 3<<20 + 1} {
		for size := 1; size <= 5; size++ {
			at, gat := 0, 0
			for r := range size + 1 {
				p := &part{rank: r, size: size}
				lo, hi := p.block(n)
				glo, ghi := p.grain(n)
				if r == size {
					require.Equal(t, [4]int{0, 0, 0, 0}, [4]int{lo, hi, glo, ghi})
					continue
				}
				require.Equal(t, at, lo)
				require.Equal(t, gat, glo)
				require.LessOrEqual(t, hi-lo, n/size+1)
				at, gat = hi, ghi
			}
			require.Equal(t, n, at)
			require.Equal(t, n, gat)
		}
	}
}
