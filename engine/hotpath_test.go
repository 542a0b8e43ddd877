package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	hotpathRuns  [2]atomic.Int64
	hotpathNoop  = Register("hotpath-a", func(c *Ctx, _ struct{}, lo, hi int) error { hotpathRuns[0].Add(1); return nil })
	hotpathOther = Register("hotpath-b", func(c *Ctx, _ struct{}, lo, hi int) error { hotpathRuns[1].Add(1); return nil })
	hotpathNap   = Register("hotpath-nap", func(c *Ctx, a napArgs, lo, hi int) error {
		time.Sleep(a.D)
		return nil
	})
)

type napArgs struct{ D time.Duration }

// A worker's part of a job — seeing it, claiming its block, running it,
// counting it — allocates nothing, and reads the kernel's name only when
// the coordinator wrote another one. (The worker runs in this process
// here, over a control block laid out in memory, with the coordinator's
// part played by the test.)
func TestWorkerJobAllocatesNothing(t *testing.T) {
	l := ctlLayout(2, 1, 4096)
	c, err := initControl(alignedBytes(int(l.size)), l)
	require.NoError(t, err)
	w := newWorker(workerEnv{idx: 1, cpu: -1}, c)
	d := &c.h.desc
	d.kind.Store(jobRun)
	d.sched.Store(uint32(schedStatic))
	d.parts.Store(2)
	d.n.Store(100)
	d.hi.Store(100)
	d.k.Store(2)
	name := func(k *kernel) {
		copy(d.name[:], k.name)
		d.nameLen.Store(uint32(len(k.name)))
		d.kseq.Add(1)
	}
	var g uint32
	job := func() {
		g++
		c.h.claim.Store(packClaim(g, 0))
		c.h.gen.Store(g)
		c.slots[0].block.Store(g) // the coordinator's block, which the worker leaves alone
		w.job(g)
	}
	name(hotpathNoop.k)
	runs := hotpathRuns[0].Load()
	job()
	require.Equal(t, uint64(1), c.h.done.Load(), "the worker ran its block and counted it")
	require.Equal(t, runs+1, hotpathRuns[0].Load())
	require.Zero(t, testing.AllocsPerRun(1000, job))
	require.Equal(t, uint64(1+1001), c.h.done.Load())
	require.Equal(t, runs+1+1001, hotpathRuns[0].Load())

	// Another kernel: the new version makes the worker look it up.
	name(hotpathOther.k)
	other := hotpathRuns[1].Load()
	job()
	require.Equal(t, other+1, hotpathRuns[1].Load())
	require.Equal(t, runs+1+1001, hotpathRuns[0].Load())
}

// The coordinator that sleeps while the workers finish a job is woken by a
// worker that leaves the job after counting its chunks, never by the
// timeout of its sleep: with spinning off, every job puts both sides to
// sleep.
func TestCoordinatorIsWoken(t *testing.T) {
	for _, primary := range []bool{false, true} {
		team, err := Start(Workers(2), Primary(primary), Spin(-1))
		require.NoError(t, err)
		t.Cleanup(func() { _ = team.Close() }) // also when an assertion fails
		for range 100 {
			require.NoError(t, hotpathNap.For(context.Background(), team, 2, napArgs{D: 200 * time.Microsecond}))
		}
		p := team.b.(*procTeam)
		require.NotZero(t, p.sleeps.Load(), "primary=%v: the coordinator never slept", primary)
		require.Zero(t, p.lateWakes.Load(), "primary=%v: sleeps of the coordinator ended by their timeout", primary)

		// A job of many chunks wakes the coordinator when workers leave it,
		// not after each chunk: the notify word moves at most once per
		// worker process and job. (The number of sleeps is no measure of
		// it: a signal — the runtime's preemption, the race detector's —
		// ends a sleep early, and the coordinator sleeps again.)
		before := p.h.notify.Load()
		const jobs = 5
		for range jobs {
			require.NoError(t, hotpathNap.For(context.Background(), team, 100, napArgs{D: 50 * time.Microsecond}, Dynamic(1)))
		}
		require.LessOrEqual(t, p.h.notify.Load()-before, uint32(jobs*(p.parts-p.first)), "primary=%v", primary)
		require.Zero(t, p.lateWakes.Load(), "primary=%v", primary)
		require.NoError(t, team.Close())
	}
}
