package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
)

type prefaultArgs struct {
	X   *array.Array[int64]
	Ran *array.Array[int64] // elements written, per participant
}

var prefaultWrite = engine.Register("prefault-write", func(c *engine.Ctx, a prefaultArgs, lo, hi int) error {
	x := a.X.Data()
	for i := lo; i < hi; i++ {
		x[i] = int64(i)
	}
	a.Ran.Data()[c.Worker()] += int64(hi - lo) // one participant per block, and a slot each
	return nil
})

// The worker processes of a crowded team — more workers than CPUs, or more
// with those of the teams it shares its node with (ShareNode) — map all of
// an attached array at once, not just the blocks they run: another job
// would hand them the blocks of workers that are not running, and each
// first touch of a page would be a fault. Each worker writes only the
// blocks it runs, and still has every page of the array mapped. (Jobs run
// until one worker that attached the array wrote less than all of it: a
// worker that happened to run every block would have mapped every page
// anyway.)
func TestOversubscribedWorkersPrefault(t *testing.T) {
	cpus := engine.UsableCPUs()
	t.Run("more workers than CPUs", func(t *testing.T) {
		testPrefault(t, cpus+2, engine.Workers(cpus+2))
	})
	t.Run("ShareNode", func(t *testing.T) {
		testPrefault(t, max(cpus, 2), engine.Workers(max(cpus, 2)), engine.ShareNode(2, max(cpus, 2)))
	})
}

func testPrefault(t *testing.T, workers int, opts ...engine.TeamOption) {
	team, err := engine.Start(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = team.Close() })
	const n = 1 << 18 // 2 MiB: 512 pages
	x, err := array.CreateAnon[int64](n)
	require.NoError(t, err)
	defer x.Close()
	ran, err := array.CreateAnon[int64](workers)
	require.NoError(t, err)
	defer ran.Close()
	partial := func() bool {
		for w, pid := range team.PIDs() {
			if pid != 0 && ran.Data()[w] > 0 && ran.Data()[w] < n {
				return true
			}
		}
		return false
	}
	for jobs := 0; !partial(); jobs++ {
		require.Less(t, jobs, 1000, "no worker ran part of the array only")
		require.NoError(t, prefaultWrite.For(context.Background(), team, n, prefaultArgs{X: x, Ran: ran}, engine.Static()))
	}
	for i, v := range x.Data() {
		if v != int64(i) {
			t.Fatalf("x[%d] = %d", i, v)
		}
	}
	for w, pid := range team.PIDs() {
		if pid == 0 || ran.Data()[w] == 0 {
			continue // never ran a block: never attached the array
		}
		size, rss := memfdMapping(t, pid, "array", int64(n*8))
		require.Equal(t, size, rss, "worker %d (pid %d) wrote %d of %d elements and mapped only part of the array", w, pid, ran.Data()[w], n)
	}
}

// memfdMapping returns the size and the resident part of process pid's one
// mapping of a memfd called name that is at least min bytes.
func memfdMapping(t *testing.T, pid int, name string, min int64) (size, rss int64) {
	t.Helper()
	ms, err := testproc.Mappings(pid)
	require.NoError(t, err)
	found := 0
	for _, m := range ms {
		if strings.HasPrefix(m.Path, "/memfd:"+name+" ") && m.Size >= min {
			found++
			size, rss = m.Size, m.Rss
		}
	}
	require.Equal(t, 1, found, "process %d maps one memfd %q of at least %d bytes", pid, name, min)
	return size, rss
}
