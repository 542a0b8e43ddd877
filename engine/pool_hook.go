package engine

import "syscall"

// The pool's hooks into the process team. They read the team's worker table
// under procMu (as PIDs does) and change nothing in it: the pool learns
// when a worker process exits, kills one (a task over its timeout, a
// worker retired by MaxTasksPerWorker), and reads how one ended. Replacing a
// dead worker stays the team's business, at the start of its next job.

// procOf returns the worker process in slot i if its pid is pid.
func (t *procTeam) procOf(i, pid int) *wproc {
	t.procMu.RLock()
	defer t.procMu.RUnlock()
	if i < t.first || i >= t.parts {
		return nil
	}
	if w := t.procs[i]; w != nil && w.pid == pid {
		return w
	}
	return nil
}

// exitChan returns a channel closed once worker process pid in slot i has
// exited, or nil if slot i has no such process.
func (t *procTeam) exitChan(i, pid int) <-chan struct{} {
	if w := t.procOf(i, pid); w != nil {
		return w.done
	}
	return nil
}

// killProc kills worker process pid in slot i (SIGKILL, through its
// os.Process, so a reused pid is never hit).
func (t *procTeam) killProc(i, pid int) {
	if w := t.procOf(i, pid); w != nil && !w.exited() {
		_ = w.cmd.Process.Kill()
	}
}

// exitInfo says how worker process pid in slot i ended (once it has): how,
// the signal that killed it, and the tail of its stderr.
func (t *procTeam) exitInfo(i, pid int) (how string, sig syscall.Signal, output string) {
	w := t.procOf(i, pid)
	if w == nil || !w.exited() {
		return "was lost", 0, ""
	}
	how, sig = w.describe()
	return how, sig, w.tail.String()
}
