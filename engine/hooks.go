package engine

import (
	"syscall"
	"time"

	"github.com/shmpar/shmpar/engine/internal/supervise"
)

// The team's supervision hooks for the packages built on it (the pool):
// they read the team's worker table under procMu (as PIDs does) and change
// nothing in it but the life of one process. Replacing a dead worker stays
// the team's business, at the start of its next job.

func init() {
	supervise.SetOf(func(team any) (supervise.Team, bool) {
		t, ok := team.(*Team)
		if !ok || t == nil {
			return nil, false
		}
		return hooks{t}, true
	})
}

// hooks is a Team's supervise.Team.
type hooks struct{ t *Team }

func (h hooks) Process() bool              { return h.t.cfg.Backend == Process }
func (h hooks) Spin() time.Duration        { return max(h.t.cfg.Spin, 0) }
func (h hooks) CancelGrace() time.Duration { return h.t.cfg.CancelGrace }
func (h hooks) StallLimit() time.Duration  { return h.t.cfg.StallLimit }

func (h hooks) First() int {
	if p, ok := h.t.b.(*procTeam); ok {
		return p.first
	}
	return 0
}

func (h hooks) Closed() bool {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	return h.t.closed
}

func (h hooks) Exited(i, pid int) <-chan struct{} {
	if w := h.proc(i, pid); w != nil {
		return w.done
	}
	return nil
}

func (h hooks) Kill(i, pid int) {
	if w := h.proc(i, pid); w != nil && !w.exited() {
		_ = w.cmd.Process.Kill()
	}
}

func (h hooks) ExitInfo(i, pid int) (how string, sig syscall.Signal, output string) {
	w := h.proc(i, pid)
	if w == nil || !w.exited() {
		return "was lost", 0, ""
	}
	how, sig = w.describe()
	return how, sig, w.tail.String()
}

// proc returns the worker process in slot i if its pid is pid.
func (h hooks) proc(i, pid int) *wproc {
	t, ok := h.t.b.(*procTeam)
	if !ok {
		return nil
	}
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
