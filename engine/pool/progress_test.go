package pool_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/teamtest"
	"github.com/shmpar/shmpar/engine/pool"
)

// progressLog records the reports of a call.
type progressLog struct {
	mu    sync.Mutex
	done  []int
	total []int
	at    []time.Time
}

func (l *progressLog) report(done, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = append(l.done, done)
	l.total = append(l.total, total)
	l.at = append(l.at, time.Now())
}

func TestPoolProgress(t *testing.T) {
	for _, c := range []struct {
		name string
		team []engine.TeamOption
		opts []pool.CallOption
	}{
		{"direct", []engine.TeamOption{engine.Workers(2)}, nil},
		{"session", []engine.TeamOption{engine.Workers(2)}, []pool.CallOption{pool.Timeout(time.Hour)}},
		{"goroutine", []engine.TeamOption{engine.Workers(2), engine.Goroutine}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, c.team)
			ctx := teamtest.Ctx(t)
			// About a second of work: several reports on the way.
			const n = 400
			var l progressLog
			r0 := pool.DirectRounds(p)
			start := time.Now()
			out, err := sleepMsF.Map(ctx, p, slicesRepeat(5, n), append(c.opts, pool.Progress(l.report), pool.ChunkSize(4))...)
			took := time.Since(start)
			require.NoError(t, err)
			require.Equal(t, 5, out[n-1])
			if c.name == "direct" {
				require.Greater(t, pool.DirectRounds(p), r0)
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			k := len(l.done)
			require.GreaterOrEqual(t, k, 2)
			require.Equal(t, 0, l.done[0], "first report: nothing done")
			require.Equal(t, n, l.done[k-1], "last report: all done")
			for i := range k {
				require.Equal(t, n, l.total[i])
				if i > 0 {
					require.GreaterOrEqual(t, l.done[i], l.done[i-1], "done never goes back")
				}
			}
			// Reports in between come at most every ProgressInterval, and
			// there are some when the call lasts several intervals.
			for i := 2; i < k-1; i++ {
				require.GreaterOrEqual(t, l.at[i].Sub(l.at[i-1]), pool.ProgressInterval, "report %d", i)
			}
			if took > 4*pool.ProgressInterval {
				require.Greater(t, k, 2, "reports while the call ran (%v)", took)
				inner := false
				for _, d := range l.done[1 : k-1] {
					inner = inner || (d > 0 && d < n)
				}
				require.True(t, inner, "a report of part of the work: %v", l.done)
			}
		})
	}
}

func TestPoolProgressBar(t *testing.T) {
	p := newPool(t, []engine.TeamOption{engine.Workers(2)})
	var buf teamtest.SyncBuffer
	out, err := sqF.Map(teamtest.Ctx(t), p, ints(300), pool.Progress(pool.ProgressBar(&buf)))
	require.NoError(t, err)
	require.Equal(t, 299*299, out[299])
	require.True(t, strings.Contains(buf.String(), "300/300"), "the bar reached the end: %q", buf.String())
}
