package mpi

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tests of what both builds share; they run in the test process itself,
// which never initialises MPI.

func TestShareCoversRangeInGrainChunks(t *testing.T) {
	for _, n := range []int{0, 1, 1023, 1024, 1025, 5000, 1 << 20, 1<<20 + 1, 3<<21 + 5, 1<<33 + 17, 1<<40 + 3} {
		g := Grain(n)
		for _, size := range []int{1, 2, 3, 4, 7, 1000} {
			at := 0
			chunks := -1
			for r := range size {
				lo, hi := share(n, g, r, size)
				name := fmt.Sprintf("n=%d size=%d rank=%d: [%d, %d)", n, size, r, lo, hi)
				require.Equal(t, at, lo, name)
				require.LessOrEqual(t, lo, hi, name)
				require.True(t, lo%g == 0 || lo == n, "%s: starts off the grain %d", name, g)
				require.True(t, hi%g == 0 || hi == n, "%s: ends off the grain %d", name, g)
				if hi > lo || chunks >= 0 {
					c := (hi - lo + g - 1) / g
					if chunks < 0 {
						chunks = c
					}
					require.LessOrEqual(t, abs(c-chunks), 1, "%s: %d chunks, rank 0 had %d", name, c, chunks)
				}
				at = hi
			}
			require.Equal(t, n, at, "n=%d size=%d: parts end at %d", n, size, at)
		}
	}
}

func TestShareOf(t *testing.T) {
	const n = 1<<22 + 5
	for size := 1; size <= 5; size++ {
		for r := range size {
			lo, hi := ShareOf(n, r, size)
			wlo, whi := share(n, Grain(n), r, size)
			require.Equal(t, [2]int{wlo, whi}, [2]int{lo, hi})
		}
		lo, hi := ShareOf(n, size, size)
		require.Equal(t, [2]int{0, 0}, [2]int{lo, hi}, "a rank past the size has nothing")
	}
	lo, hi := ShareOf(n, 0, 0)
	require.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
	lo, hi = ShareOf(n, -1, 2)
	require.Equal(t, [2]int{0, 0}, [2]int{lo, hi})
}

func TestGrain(t *testing.T) {
	for _, n := range []int{-5, 0, 1, 1 << 14, 1<<34 + 1, 1 << 35, 1<<35 + 1, 1<<50 + 7, math.MaxInt} {
		g := Grain(n)
		require.GreaterOrEqual(t, g, minGrain, "n=%d", n)
		require.Zero(t, g&(g-1), "n=%d: grain %d is not a power of two", n, g)
		if n > 0 {
			chunks := (n-1)/g + 1
			require.LessOrEqual(t, chunks, maxChunks, "n=%d grain %d", n, g)
			if g > minGrain {
				require.Greater(t, (n-1)/(g/2)+1, maxChunks, "n=%d: grain %d is not the smallest", n, g)
			}
		}
	}
	require.Equal(t, 1<<14, Grain(1<<34))
	require.Equal(t, 1<<15, Grain(1<<34+1))
}

// TestFloatKey checks the keys Reduce orders floats by: the Min (Max) of
// two keys is the key of what engine's Min (Max) step gives, bit for bit,
// for every pair of a set of special and ordinary values held by two ranks.
func TestFloatKey(t *testing.T) {
	vals := []float64{math.Inf(-1), math.Inf(1), -1e308, -1, -math.SmallestNonzeroFloat64,
		math.Copysign(0, -1), 0, math.SmallestNonzeroFloat64, 1, 3.5, math.MaxFloat64,
		math.Float64frombits(0x7ff8_0000_0000_0001), math.Float64frombits(0xfff0_0000_0000_0002)}
	for _, op := range []Op{Min, Max} {
		rule := minRule
		if op == Max {
			rule = maxRule
		}
		for _, a := range vals {
			for _, b := range vals {
				for _, ranks := range [][2]int{{0, 1}, {2, 5}} {
					ka, kb := floatKey(a, op, ranks[0]), floatKey(b, op, ranks[1])
					k := min(ka, kb)
					if op == Max {
						k = max(ka, kb)
					}
					want := rule(a, b) // rank ranks[0] comes first
					var got float64
					if r, ok := nanRank(k, op, 6); ok {
						got = [2]float64{a, b}[map[int]int{ranks[0]: 0, ranks[1]: 1}[r]]
					} else {
						got = fromKey(k, op)
					}
					require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%v(%v, %v)", op, a, b)
				}
			}
		}
	}
}

// FuzzFloatKey checks, for any bits, that a key orders like engine's rule
// and that fromKey inverts floatKey.
func FuzzFloatKey(f *testing.F) {
	f.Add(uint64(0), uint64(1<<63), uint8(0))
	f.Add(uint64(0x7ff8_0000_0000_0001), uint64(0xfff0_0000_0000_0000), uint8(1))
	f.Fuzz(func(t *testing.T, x, y uint64, which uint8) {
		op := []Op{Min, Max}[which%2]
		a, b := math.Float64frombits(x), math.Float64frombits(y)
		for _, v := range []float64{a, b} {
			if v == v {
				require.Equal(t, math.Float64bits(v), math.Float64bits(fromKey(floatKey(v, op, 0), op)))
			}
		}
		rule := minRule
		ka, kb := floatKey(a, op, 0), floatKey(b, op, 1)
		k := min(ka, kb)
		if op == Max {
			rule, k = maxRule, max(ka, kb)
		}
		want := rule(a, b)
		var got float64
		if r, ok := nanRank(k, op, 2); ok {
			got = [2]float64{a, b}[r]
		} else {
			got = fromKey(k, op)
		}
		require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%v(%x, %x)", op, x, y)
	})
}

// oversubscribed reports whether ranks teams of workers each are more
// than cpus: the rule engine.ShareNode applies, written out again as the
// tests' oracle (engine's TestShareNode checks the rule itself).
func oversubscribed(ranks, workers, cpus int) bool {
	return ranks*workers > cpus
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestLaunched(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want Placement
		err  error
	}{
		{"none", nil, Placement{}, ErrNotLaunched},
		{"Open MPI", map[string]string{
			"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
			"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
			"PMIX_RANK": "2", "SLURM_PROCID": "9", "SLURM_NTASKS": "10",
		}, Placement{"Open MPI", 2, 4, 0, 2}, nil},
		{"MPICH", map[string]string{"PMI_RANK": "1", "PMI_SIZE": "3", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "3"},
			Placement{"MPICH", 1, 3, 1, 3}, nil},
		{"Slurm", map[string]string{"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"},
			Placement{"Slurm", 5, 8, 1, -1}, nil},
		{"PMIx", map[string]string{"PMIX_RANK": "3"}, Placement{"PMIx", 3, -1, -1, -1}, nil},
		{"not a number", map[string]string{"PMI_RANK": "one", "PMI_SIZE": "3"}, Placement{}, ErrLauncherEnv},
		{"negative", map[string]string{"SLURM_PROCID": "-1", "SLURM_NTASKS": "3"}, Placement{}, ErrLauncherEnv},
		{"rank ≥ size", map[string]string{"OMPI_COMM_WORLD_RANK": "4", "OMPI_COMM_WORLD_SIZE": "4"}, Placement{}, ErrLauncherEnv},
		{"size 0", map[string]string{"PMI_RANK": "0", "PMI_SIZE": "0"}, Placement{}, ErrLauncherEnv},
		{"local rank ≥ local size", map[string]string{"PMI_RANK": "0", "PMI_SIZE": "2", "MPI_LOCALRANKID": "2", "MPI_LOCALNRANKS": "2"}, Placement{}, ErrLauncherEnv},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := launched(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if c.err != nil {
				require.True(t, errors.Is(err, c.err), "err = %v, want %v", err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, p)
		})
	}
}

type myFloat float64

func TestDtypeOf(t *testing.T) {
	require.Equal(t, dtInt8, dtypeOf[int8]())
	require.Equal(t, dtInt16, dtypeOf[int16]())
	require.Equal(t, dtInt32, dtypeOf[int32]())
	require.Equal(t, dtInt64, dtypeOf[int64]())
	require.Equal(t, dtInt64, dtypeOf[int]())
	require.Equal(t, dtUint8, dtypeOf[uint8]())
	require.Equal(t, dtUint16, dtypeOf[uint16]())
	require.Equal(t, dtUint32, dtypeOf[uint32]())
	require.Equal(t, dtUint64, dtypeOf[uint64]())
	require.Equal(t, dtUint64, dtypeOf[uint]())
	require.Equal(t, dtFloat32, dtypeOf[float32]())
	require.Equal(t, dtFloat64, dtypeOf[float64]())
	require.Equal(t, dtFloat64, dtypeOf[myFloat](), "named types map by their underlying type")
}

func TestCommNotFromInitIsRefused(t *testing.T) {
	for _, c := range []*Comm{nil, {}} {
		require.ErrorIs(t, c.Barrier(), ErrNotInit)
		require.ErrorIs(t, Allreduce(c, []int{1}, Sum), ErrNotInit)
		require.ErrorIs(t, Bcast(c, []int{1}, 0), ErrNotInit)
		require.ErrorIs(t, c.Abort(1), ErrNotInit)
	}
}

// FuzzLaunched feeds arbitrary values to a launcher's variables: the result
// is either a placement that makes sense or an error wrapping
// ErrLauncherEnv, never a panic.
func FuzzLaunched(f *testing.F) {
	f.Add("1", "2", "0", "1", uint8(0))
	f.Add("x", "", "-3", "99999999999999999999", uint8(1))
	f.Add("5", "5", "1", "1", uint8(2))
	f.Fuzz(func(t *testing.T, rank, size, lrank, lsize string, which uint8) {
		l := launchers[int(which)%len(launchers)]
		env := map[string]string{l.rank: rank, l.size: size, l.localRank: lrank, l.lsize: lsize}
		delete(env, "")
		p, err := launched(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			require.ErrorIs(t, err, ErrLauncherEnv)
			return
		}
		require.Equal(t, l.name, p.Launcher)
		require.GreaterOrEqual(t, p.Rank, 0)
		if p.Size != -1 {
			require.Less(t, p.Rank, p.Size)
		}
		if p.LocalSize != -1 {
			require.GreaterOrEqual(t, p.LocalRank, -1)
			require.Less(t, p.LocalRank, p.LocalSize)
		}
	})
}
