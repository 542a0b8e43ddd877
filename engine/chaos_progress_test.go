//go:build chaos && linux

package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/chaos"
)

// TestChaosProgress: worker processes SIGKILLed at random moments of a For
// with ReportProgress (kept apart from chaos_test.go's scenarios, which
// the same helpers serve). What the option promises must hold through
// deaths and re-runs: reports never overlap and never go back, the first
// is (0, k), the total never changes, the last is every chunk minus the
// chunks lost with dead workers (exactly those the error names), and no
// report comes after For returned.
func TestChaosProgress(t *testing.T) {
	// Reports while the job runs, not only its first and last.
	defer engine.SetProgressInterval(2 * time.Millisecond)()
	chaos.Run(t, chaos.Scenario{
		Name: "engine/kill-worker-progress", Trials: 32, Timeout: chaosTimeout,
		Trial: killWorkerProgress,
	})
}

// progressWatch checks the reports of one call as they come.
type progressWatch struct {
	tr      *chaos.T
	what    string
	running atomic.Int32
	over    atomic.Bool // the call returned: no report may come

	mu          sync.Mutex
	n           int
	first, last [2]int
}

func (w *progressWatch) report(done, total int) {
	if w.running.Add(1) > 1 {
		w.tr.Wrong("%s: two reports at once", w.what)
	}
	defer w.running.Add(-1)
	if w.over.Load() {
		w.tr.Wrong("%s: a report (%d, %d) after For returned", w.what, done, total)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.n == 0:
		w.first = [2]int{done, total}
		if done != 0 {
			w.tr.Wrong("%s: first report (%d, %d)", w.what, done, total)
		}
	case total != w.last[1]:
		w.tr.Wrong("%s: total changed from %d to %d", w.what, w.last[1], total)
	case done < w.last[0]:
		w.tr.Wrong("%s: done went back from %d to %d", w.what, w.last[0], done)
	}
	if done < 0 || done > total {
		w.tr.Wrong("%s: report (%d, %d) out of range", w.what, done, total)
	}
	w.last = [2]int{done, total}
	w.n++
}

func killWorkerProgress(tr *chaos.T) {
	sh := chaosShapes[tr.Rand.IntN(len(chaosShapes))]
	sname, opt := chaosSchedule(tr)
	idem := tr.Rand.IntN(2) == 0
	faults := 1 + tr.Rand.IntN(2)
	what := fmt.Sprintf("%d workers (primary %v), %s, idempotent %v, %d kills", sh.workers, sh.primary, sname, idem, faults)
	team, a, cleanup, ok := chaosTeam(tr, sh, what)
	if !ok {
		return
	}
	defer cleanup()
	k := chaosIncK
	if idem {
		k = chaosSetK
	}
	w := &progressWatch{tr: tr, what: what}
	done := make(chan error, 1)
	var over atomic.Bool
	go func() {
		err := k.For(context.Background(), team, chaosN, chaosArgs{A: a, Work: chaosWork}, opt, engine.ReportProgress(w.report))
		over.Store(true)
		w.over.Store(true)
		done <- err
	}()
	hit := faulter{tr, team, syscall.SIGKILL, &over}.strike(faults)
	err := <-done
	lost := len(engine.WorkerErrors(err))
	tr.Count("lost-chunks", lost)
	checkLost(tr, fmt.Sprintf("%s, hit %v", what, hit), err, a.Data()[:chaosN], idem && len(hit) <= 1)
	w.mu.Lock()
	n, first, last := w.n, w.first, w.last
	w.mu.Unlock()
	switch {
	case n < 2:
		tr.Wrong("%s: %d reports", what, n)
	case last[0] != first[1]-lost:
		tr.Wrong("%s: last report %d of %d with %d chunks lost (error: %v)", what, last[0], last[1], lost, err)
	}
	tr.Count("reports", n)
	for _, p := range hit {
		awaitExited(p)
	}
	// The next job gives a late report time to show (the watch flags it).
	checkHealed(tr, team, a, opt)
}
