package supervise

import (
	"syscall"
	"time"
)

// Team is the supervision view of a team.
type Team interface {
	// Process reports a team of worker processes (not goroutines).
	Process() bool
	// First is the participant index of the first worker process: 1 when
	// the coordinator takes part (engine.Primary), else 0.
	First() int
	// Spin, CancelGrace and StallLimit are the values of the team's options
	// (engine.Spin, …), defaults applied (a StallLimit ≤ 0 means none).
	Spin() time.Duration
	CancelGrace() time.Duration
	StallLimit() time.Duration
	// Closed reports that the team was closed.
	Closed() bool
	// Exited returns a channel closed once worker process pid in slot i has
	// exited, or nil if slot i has no such process.
	Exited(i, pid int) <-chan struct{}
	// Kill kills worker process pid in slot i with SIGKILL (through its
	// os.Process, so a reused pid is never hit).
	Kill(i, pid int)
	// ExitInfo says how worker process pid in slot i ended (once it has):
	// how ("was killed by signal 9 (killed)"), the signal, and the tail of
	// its stderr.
	ExitInfo(i, pid int) (how string, sig syscall.Signal, output string)
}

var of func(team any) (Team, bool)

// SetOf registers the conversion from *engine.Team; engine calls it at
// init.
func SetOf(f func(team any) (Team, bool)) { of = f }

// Of returns the supervision view of team, an *engine.Team.
func Of(team any) (Team, bool) {
	if of == nil {
		return nil, false
	}
	return of(team)
}
