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

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine/internal/trace"
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
		opts []TeamOption
	}{
		{"primary", []TeamOption{Workers(2), Primary(true)}},
		{"dedicated", []TeamOption{Workers(2)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("SHMPAR_TRACE_DIR", dir)
			trace.Reset()
			team, err := Start(c.opts...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = team.Close() }) // also when an assertion fails
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
				if r[trace.SawDone] == 0 {
					continue
				}
				require.LessOrEqual(t, r[trace.Run], r[trace.Posted], "job %d", g)
				require.LessOrEqual(t, r[trace.Posted], r[trace.SawDone], "job %d", g)
				add("coordinator: run → posted", r[trace.Posted]-r[trace.Run])
				if r[trace.OwnDone] != 0 {
					add("coordinator: posted → own block done", r[trace.OwnDone]-r[trace.Posted])
					add("coordinator: own block done → saw the end", r[trace.SawDone]-r[trace.OwnDone])
				}
				add("coordinator: run → saw the end", r[trace.SawDone]-r[trace.Run])
				for _, w := range workers {
					x, ok := w[g]
					if !ok || x[trace.SawGen] == 0 || x[trace.Claimed] == 0 {
						continue
					}
					require.LessOrEqual(t, x[trace.SawGen], x[trace.Claimed], "job %d", g)
					require.LessOrEqual(t, x[trace.Claimed], x[trace.Left], "job %d", g)
					add("worker: posted → saw the generation", x[trace.SawGen]-r[trace.Posted])
					add("worker: saw → claimed a chunk", x[trace.Claimed]-x[trace.SawGen])
					add("worker: claimed → left the job", x[trace.Left]-x[trace.Claimed])
					add("coordinator saw the end − worker left", r[trace.SawDone]-x[trace.Left])
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
func readTrace(t *testing.T, dir, pattern string) []map[int][trace.N]int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no trace file %s", pattern)
	var out []map[int][trace.N]int64
	for _, name := range files {
		m := map[int][trace.N]int64{}
		f, err := os.Open(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			require.Len(t, fs, 1+trace.N, "%s: %q", name, sc.Text())
			g, err := strconv.Atoi(fs[0])
			require.NoError(t, err)
			var row [trace.N]int64
			for i := range trace.N {
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

// traceBusy burns about a nanosecond of CPU per index.
var traceBusy = Register("trace-busy", func(c *Ctx, _ struct{}, lo, hi int) error {
	x := 1.0
	for i := lo; i < hi; i++ {
		x = x*1.0000001 + 1e-9
	}
	if x < 0 {
		return ErrStopped
	}
	return nil
})

type traceTriadArgs struct{ A, B, C *array.Array[float64] }

// traceTriad is STREAM's triad: memory-bound.
var traceTriad = Register("trace-triad", func(c *Ctx, a traceTriadArgs, lo, hi int) error {
	x, y, z := a.A.Data()[lo:hi], a.B.Data()[lo:hi], a.C.Data()[lo:hi]
	for i := range x {
		x[i] = y[i] + 3*z[i]
	}
	return nil
})

// TestTraceBlocks runs jobs on teams of 2 and 8 participants (Primary) and
// prints, from the chunk records of every process, how long a job took from
// its post to its last chunk's end, and how many chunks each participant
// ran: on 2 CPUs a team of 8 should run like a team of 2.
//
//	flock /work/.bench.lock go test -tags shmpartrace -run TraceBlocks -v ./engine
func TestTraceBlocks(t *testing.T) {
	for _, c := range []struct {
		name string
		w, n int
		jobs int
		opts []Option
	}{
		{"empty/workers=2", 2, 1024, 20000, nil},
		{"empty/workers=8", 8, 1024, 20000, nil},
		{"busy/workers=2", 2, 4 << 20, 200, nil},
		{"busy/workers=8", 8, 4 << 20, 200, nil},
		{"triad/workers=2", 2, 1 << 24, 60, nil},
		{"triad/workers=8", 8, 1 << 24, 60, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("SHMPAR_TRACE_DIR", dir)
			trace.Reset()
			team, err := Start(Workers(c.w), Primary(true))
			require.NoError(t, err)
			t.Cleanup(func() { _ = team.Close() }) // also when an assertion fails
			run := func() error { return internalNoop.For(context.Background(), team, c.n, struct{}{}, c.opts...) }
			switch {
			case strings.HasPrefix(c.name, "busy"):
				run = func() error { return traceBusy.For(context.Background(), team, c.n, struct{}{}, c.opts...) }
			case strings.HasPrefix(c.name, "triad"):
				var a traceTriadArgs
				for _, p := range []**array.Array[float64]{&a.A, &a.B, &a.C} {
					*p, err = array.CreateAnon[float64](c.n)
					require.NoError(t, err)
					defer (*p).Close()
				}
				run = func() error { return traceTriad.For(context.Background(), team, c.n, a, c.opts...) }
			}
			for range 5 { // warm up: each process maps what it touches
				require.NoError(t, run())
			}
			faults := minorFaults(t, team.PIDs())
			for range c.jobs {
				require.NoError(t, run())
			}
			faults = minorFaults(t, team.PIDs()) - faults
			t.Logf("minor page faults in all processes during the %d jobs: %d", c.jobs, faults)
			require.NoError(t, team.Close())
			coord := readTrace(t, dir, "coord-*.txt")[0]
			files, err := filepath.Glob(filepath.Join(dir, "*.chunks"))
			require.NoError(t, err)
			last := map[int]int64{} // job: end of its last chunk
			type rec struct {
				w      int
				t0, t1 int64
			}
			byJob := map[int][]rec{}
			per := make([]int, c.w)    // chunks run, by participant
			jobsOf := make([]int, c.w) // jobs in which each took part
			seen := map[[2]int]bool{}
			chunks := 0
			for _, name := range files {
				b, err := os.ReadFile(name)
				require.NoError(t, err)
				for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
					var g, w int
					var ci, t0, t1 int64
					_, err := fmt.Sscan(line, &g, &w, &ci, &t0, &t1)
					require.NoError(t, err)
					g &= 1<<16 - 1
					last[g] = max(last[g], t1)
					byJob[g] = append(byJob[g], rec{w, t0, t1})
					per[w]++
					if !seen[[2]int{g, w}] {
						seen[[2]int{g, w}] = true
						jobsOf[w]++
					}
					chunks++
				}
			}
			require.Positive(t, chunks)
			var span []int64
			for g, r := range coord {
				if e, ok := last[g]; ok && r[trace.Posted] != 0 {
					span = append(span, e-r[trace.Posted])
				}
			}
			var first, gap, dur []int64
			for g, rs := range byJob {
				r := coord[g]
				if r[trace.Posted] == 0 {
					continue
				}
				bw := map[int][]rec{}
				for _, x := range rs {
					bw[x.w] = append(bw[x.w], x)
				}
				for _, x := range rs {
					dur = append(dur, x.t1-x.t0)
				}
				for w, xs := range bw {
					slices.SortFunc(xs, func(a, b rec) int { return int(a.t0 - b.t0) })
					if w != 0 {
						first = append(first, xs[0].t0-r[trace.Posted])
					}
					for i := 1; i < len(xs); i++ {
						gap = append(gap, xs[i].t0-xs[i-1].t1)
					}
				}
			}
			slices.Sort(dur)
			t.Logf("chunk durations: p10=%d p50=%d p90=%d ns", dur[len(dur)/10], dur[len(dur)/2], dur[len(dur)*9/10])
			slices.Sort(first)
			slices.Sort(gap)
			if len(first) > 0 {
				t.Logf("post → a worker's first chunk starts: p10=%d p50=%d p90=%d ns", first[len(first)/10], first[len(first)/2], first[len(first)*9/10])
			}
			if len(gap) > 0 {
				t.Logf("end of a chunk → start of the same participant's next: p10=%d p50=%d p90=%d ns (%d)", gap[len(gap)/10], gap[len(gap)/2], gap[len(gap)*9/10], len(gap))
			}
			slices.Sort(span)
			t.Logf("post → last chunk's end: p10=%d p50=%d p90=%d ns over %d jobs", span[len(span)/10], span[len(span)/2], span[len(span)*9/10], len(span))
			t.Logf("chunks run by participant: %v; jobs taken part in: %v", per, jobsOf)
		})
	}
}

// minorFaults returns the sum of the minor page faults of processes pids
// (field 10 of /proc/PID/stat).
func minorFaults(t *testing.T, pids []int) int64 {
	var n int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		v, err := strconv.ParseInt(f[7], 10, 64) // fields from 3 on: minflt is the 10th
		require.NoError(t, err)
		n += v
	}
	return n
}
