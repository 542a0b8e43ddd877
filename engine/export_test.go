package engine

import "time"

// WorkerSleep returns how each worker process of a process team waits for
// a job — 0 spinning or running, 1 asleep holding its P, 2 asleep as a
// blocked thread — in participant order; nil for a goroutine team. (It
// exists for the tests of package engine_test.)
func WorkerSleep(t *Team) []uint32 {
	p, ok := t.b.(*procTeam)
	if !ok {
		return nil
	}
	out := make([]uint32, 0, p.parts-p.first)
	for i := p.first; i < p.parts; i++ {
		out = append(out, p.c.slots[i].sleep.Load())
	}
	return out
}

// SetProgressInterval makes ReportProgress report every d instead of
// ProgressInterval, in calls that start before the returned function
// restores it.
func SetProgressInterval(d time.Duration) (restore func()) {
	old := progressEvery.Swap(int64(d))
	return func() { progressEvery.Store(old) }
}
