package pool

// DirectRounds returns how many direct rounds (Fors of the direct kernel)
// pool p has run: tests check that a call took the path they name.
func DirectRounds(p *Pool) uint64 {
	q, ok := p.exec.(*procPool)
	if !ok {
		return 0
	}
	q.dir.mu.Lock()
	defer q.dir.mu.Unlock()
	return q.dir.round
}

// DirectLeft returns how many tasks of direct calls pool p sent on to the
// session path.
func DirectLeft(p *Pool) uint64 {
	q, ok := p.exec.(*procPool)
	if !ok {
		return 0
	}
	q.dir.mu.Lock()
	defer q.dir.mu.Unlock()
	return q.dir.left
}

// LeftSession returns the last session that participant i of pool p's team
// left (its worker process read the session's stop message), 0 if none:
// tests wait on it to know that a session is draining.
func LeftSession(p *Pool, i int) uint64 {
	q, ok := p.exec.(*procPool)
	if !ok || i < 0 || i >= len(q.st.slots) {
		return 0
	}
	return q.st.slots[i].finished.Load()
}

// BreakResultQueue makes every process pool's dispatcher find its result
// queue failing with err from its next read on; the returned function
// undoes it (for pools made afterwards).
func BreakResultQueue(err error) (undo func()) {
	testResultErr.Store(&err)
	return func() { testResultErr.Store(nil) }
}

// Poke wakes pool p's dispatcher (as a new call does), so that it reads its
// result queue.
func Poke(p *Pool) {
	if q, ok := p.exec.(*procPool); ok {
		q.putResult(ctlMsg(rmPoke, 0, 0, 0), false)
	}
}
