package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
)

var poolConfigs = []struct {
	name string
	cfg  engine.Config
}{
	{"process", engine.Config{Workers: 2}},
	{"process-primary", engine.Config{Workers: 3, Primary: true}},
	{"goroutine", engine.Config{Workers: 3, Backend: engine.Goroutine}},
}

func newPool(t *testing.T, cfg engine.Config, opts ...engine.PoolOption) *engine.Pool {
	t.Helper()
	team := startTeam(t, cfg)
	p, err := engine.NewPool(team, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

func forPools(t *testing.T, fn func(t *testing.T, p *engine.Pool)) {
	for _, c := range poolConfigs {
		t.Run(c.name, func(t *testing.T) { fn(t, newPool(t, c.cfg)) })
	}
}

func TestPoolMapSquares(t *testing.T) {
	forPools(t, func(t *testing.T, p *engine.Pool) {
		ctx := testCtx(t)
		const n = 100_000
		in := make([]int, n)
		for i := range in {
			in[i] = i - n/2
		}
		for _, opts := range [][]engine.CallOption{nil, {engine.Chunksize(1)}, {engine.Chunksize(777)}} {
			m := in
			if len(opts) > 0 && opts[0] == engine.Chunksize(1) {
				m = in[:2000]
			}
			out, err := engine.Map[int, int](ctx, p, "sq", m, opts...)
			require.NoError(t, err)
			require.Len(t, out, len(m))
			for i, x := range m {
				if out[i] != x*x {
					t.Fatalf("out[%d] = %d, want %d", i, out[i], x*x)
				}
			}
		}
	})
}
