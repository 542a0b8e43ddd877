//go:build shmpartrace

package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTracePhases runs back-to-back empty For calls on a 2-participant
// team (the coordinator as primary, and dedicated) and prints where the
// time of a job goes, phase by phase (medians and deciles over the jobs):
//
//	flock /work/.bench.lock go test -tags shmpartrace -run TracePhases -v ./engine
//
// It checks that the jobs left their stamps in the coordinator and in the
// worker process, each process's in order. (A worker may see a job a few
// nanoseconds before the coordinator's stamp of having posted it.)
func TestTracePhases(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"primary", Config{Workers: 2, Primary: true}},
		{"dedicated", Config{Workers: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("SHMPAR_TRACE_DIR", dir)
			traceBuf = [1 << 16][traceN]int64{}
			team, err := Start(c.cfg)
			require.NoError(t, err)
			const jobs = 30000
			for range jobs {
				require.NoError(t, internalNoop.For(context.Background(), team, 1024, struct{}{}))
			}
			require.NoError(t, team.Close())
			coord := readTrace(t, dir, "coord-*.txt")[0]
			workers := readTrace(t, dir, "worker*.txt")
			require.GreaterOrEqual(t, len(coord), jobs)
			d := map[string][]int64{}
			add := func(k string, v int64) { d[k] = append(d[k], v) }
			for g, r := range coord {
				if r[traceSawDone] == 0 {
					continue
				}
				require.LessOrEqual(t, r[traceRun], r[tracePosted], "job %d", g)
				require.LessOrEqual(t, r[tracePosted], r[traceSawDone], "job %d", g)
				add("coordinator: run → posted", r[tracePosted]-r[traceRun])
				if r[traceOwnDone] != 0 {
					add("coordinator: posted → own block done", r[traceOwnDone]-r[tracePosted])
					add("coordinator: own block done → saw the end", r[traceSawDone]-r[traceOwnDone])
				}
				add("coordinator: run → saw the end", r[traceSawDone]-r[traceRun])
				for _, w := range workers {
					x, ok := w[g]
					if !ok || x[traceSawGen] == 0 || x[traceClaimed] == 0 {
						continue
					}
					require.LessOrEqual(t, x[traceSawGen], x[traceClaimed], "job %d", g)
					require.LessOrEqual(t, x[traceClaimed], x[traceLeft], "job %d", g)
					add("worker: posted → saw the generation", x[traceSawGen]-r[tracePosted])
					add("worker: saw → claimed a chunk", x[traceClaimed]-x[traceSawGen])
					add("worker: claimed → left the job", x[traceLeft]-x[traceClaimed])
					add("coordinator saw the end − worker left", r[traceSawDone]-x[traceLeft])
				}
			}
			require.GreaterOrEqual(t, len(d["worker: saw → claimed a chunk"]), jobs/10, "the worker ran too few of the jobs")
			keys := make([]string, 0, len(d))
			for k := range d {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				v := d[k]
				slices.Sort(v)
				t.Logf("%-44s n=%6d p10=%6d p50=%6d p90=%6d ns", k, len(v), v[len(v)/10], v[len(v)/2], v[len(v)*9/10])
			}
		})
	}
}

// readTrace reads the stamps of each trace file matching pattern in dir, by
// generation.
func readTrace(t *testing.T, dir, pattern string) []map[int][traceN]int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no trace file %s", pattern)
	var out []map[int][traceN]int64
	for _, name := range files {
		m := map[int][traceN]int64{}
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			require.Len(t, fs, 1+traceN, "%s: %q", name, sc.Text())
			g, err := strconv.Atoi(fs[0])
			require.NoError(t, err)
			var row [traceN]int64
			for i := range traceN {
				row[i], err = strconv.ParseInt(fs[1+i], 10, 64)
				require.NoError(t, err, fmt.Sprintf("%s: %q", name, sc.Text()))
			}
			m[g] = row
		}
		f.Close()
		out = append(out, m)
	}
	return out
}
