package engine_test

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
)

// gateArgs: the kernel adds 1 to X[i] for each i of its range; the chunk
// that ends at N waits until Gate[0] is set (by the test's progress
// callback), so a job cannot end before a report of part of its work.
type gateArgs struct {
	X, Gate *array.Array[int64]
	N       int
}

var gateK = engine.Register("progress-gate", func(c *engine.Ctx, a gateArgs, lo, hi int) error {
	if hi == a.N {
		g := &a.Gate.Data()[0]
		for deadline := time.Now().Add(teamtest.Timeout); atomic.LoadInt64(g) == 0; {
			if time.Now().After(deadline) {
				return errors.New("no report of part of the work came")
			}
			c.Progress() // a waiting kernel under the stall watch
			time.Sleep(time.Millisecond)
		}
	}
	x := a.X.Data()
	for i := lo; i < hi; i++ {
		x[i]++
	}
	return nil
}, engine.StallLimit(time.Hour))

var gateSumK = engine.RegisterReduce("progress-gate-sum", func(c *engine.Ctx, a gateArgs, lo, hi int) (int64, error) {
	return int64(hi-lo) * 1, nil
})

// reportLog records the reports of one call and opens the gate at the
// first report of part of the work.
type reportLog struct {
	mu      sync.Mutex
	done    []int
	total   []int
	at      []time.Time
	gate    *array.Array[int64]
	running atomic.Int32 // calls of report running at once
	overlap bool
}

func (l *reportLog) report(done, total int) {
	if l.running.Add(1) > 1 {
		l.overlap = true
	}
	defer l.running.Add(-1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, done)
	l.total = append(l.total, total)
	l.at = append(l.at, time.Now())
	if l.gate != nil && done > 0 && done < total {
		atomic.StoreInt64(&l.gate.Data()[0], 1)
	}
}

// check asserts what ReportProgress promises of one call of k chunks that
// ran them all.
func (l *reportLog) check(t *testing.T, k int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.done)
	require.GreaterOrEqual(t, n, 2, "reports: %v", l.done)
	require.False(t, l.overlap, "two reports at once")
	require.Equal(t, 0, l.done[0], "first report: nothing done")
	require.Equal(t, k, l.done[n-1], "last report: every chunk (%v)", l.done)
	for i := range n {
		require.Equal(t, k, l.total[i])
		if i > 0 {
			require.GreaterOrEqual(t, l.done[i], l.done[i-1], "done never goes back: %v", l.done)
		}
	}
	// Reports made by the timer (all but the first and the last) are at
	// least ProgressInterval apart.
	for i := 2; i < n-1; i++ {
		require.GreaterOrEqual(t, l.at[i].Sub(l.at[i-1]), engine.ProgressInterval, "report %d of %v", i, l.done)
	}
}

// TestReportProgress runs For on process teams (the coordinator taking
// part or not) and a goroutine team with ReportProgress: the job's last
// chunk waits until the callback has been told of part of the work, so
// the test sees a report in between without depending on how fast the
// chunks run; and every element is written once.
func TestReportProgress(t *testing.T) {
	const n = 300
	for _, s := range teamtest.Shapes {
		for _, sc := range []struct {
			name string
			opt  engine.Option
			k    int
		}{
			{"dynamic", engine.Dynamic(3), n / 3},
			{"deterministic", engine.Deterministic(10), n / 10},
			{"guided", engine.Guided(5), -1},
			{"static", engine.Static(), s.Workers},
		} {
			t.Run(s.Name+"/"+sc.name, func(t *testing.T) {
				team := teamtest.Team(t, s.Opts()...)
				ctx := teamtest.Ctx(t)
				x := teamtest.Array[int64](t, n)
				l := &reportLog{gate: teamtest.Array[int64](t, 1)}
				require.NoError(t, gateK.For(ctx, team, n, gateArgs{X: x, Gate: l.gate, N: n}, sc.opt, engine.ReportProgress(l.report)))
				for i, v := range x.Data() {
					require.Equal(t, int64(1), v, "element %d", i)
				}
				k := sc.k
				if k < 0 {
					k = l.total[0] // guided: the count its plan makes
				}
				l.check(t, k)
				inner := false
				for _, d := range l.done {
					inner = inner || (d > 0 && d < k)
				}
				require.True(t, inner, "a report of part of the work: %v", l.done)
			})
		}
	}
}

// TestReportProgressReduce: a Reduce reports its chunks too, and a job
// without chunks reports nothing.
func TestReportProgressReduce(t *testing.T) {
	for _, s := range teamtest.Shapes {
		t.Run(s.Name, func(t *testing.T) {
			team := teamtest.Team(t, s.Opts()...)
			ctx := teamtest.Ctx(t)
			var l reportLog
			got, err := gateSumK.Reduce(ctx, team, 5000, gateArgs{N: -1}, engine.Sum[int64](), engine.Deterministic(100), engine.ReportProgress(l.report))
			require.NoError(t, err)
			require.Equal(t, int64(5000), got)
			l.check(t, 50)

			var none reportLog
			require.NoError(t, gateK.For(ctx, team, 0, gateArgs{N: -1}, engine.ReportProgress(none.report)))
			require.Empty(t, none.done, "a job of no chunks")
		})
	}
}

// TestReportProgressWorkerKilled: a worker process killed while it runs a
// chunk of an Idempotent kernel; the chunk is run again and counted once,
// and the last report is every chunk.
func TestReportProgressWorkerKilled(t *testing.T) {
	team := teamtest.Team(t, engine.Workers(2))
	ctx := teamtest.Ctx(t)
	const n = 40
	x := teamtest.Array[int64](t, n)
	var l reportLog
	before := team.PIDs()
	require.NoError(t, progKillOnceK.For(ctx, team, n, progKillArgs{X: x, At: 17, Mark: teamtest.Array[int64](t, 1)}, engine.Dynamic(1), engine.ReportProgress(l.report)))
	for i, v := range x.Data() {
		require.Equal(t, int64(1), v, "element %d", i)
	}
	require.NotEqual(t, before, team.PIDs(), "a worker was killed and replaced")
	l.check(t, n)
}

type progKillArgs struct {
	X, Mark *array.Array[int64]
	At      int
}

// progKillOnceK sets X[i] = 1 for its range; the first participant to run
// chunk At in a worker process kills its own process first (once: Mark
// remembers it).
var progKillOnceK = engine.Register("progress-kill-once", func(c *engine.Ctx, a progKillArgs, lo, hi int) error {
	if lo <= a.At && a.At < hi && atomic.CompareAndSwapInt64(&a.Mark.Data()[0], 0, 1) {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal arrives
	}
	x := a.X.Data()
	for i := lo; i < hi; i++ {
		x[i] = 1
	}
	return nil
}, engine.Idempotent())
