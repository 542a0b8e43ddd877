package supervise

import (
	"fmt"
	"time"

	"github.com/shmpar/shmpar/internal/proc"
)

// Watch applies the stall rule to one worker process. The process makes
// progress when the words its watcher reads change (a chunk claimed or
// finished, a heartbeat the code it runs bumps), or when it uses CPU time:
// at least MinCPU of the wall-clock time between two reads, so that the Go
// runtime's own background work in an idle process (microseconds a
// second) does not count, while a process that gets any real share of a
// CPU does, even on a machine crowded with runnable processes. A process
// stopped by a tracer (a debugger; state 't') counts as making progress. A
// process that goes for its stall limit without progress is stalled:
// stopped by a signal (state 'T'), stuck in a system call, or asleep in
// the code it runs.
//
// The CPU time is read from the process's CPU clock (proc.CPUTime, one
// system call) when the words did not change, at most every eighth of the
// limit. Where it cannot be read (another platform), or once the process
// has exited, Stalled reports no stall: a watch that cannot tell never
// kills. The zero Watch watches nothing; a Watch is not safe for
// concurrent use.
type Watch struct {
	pid   int
	sig   [4]uint64
	cpu   time.Duration
	cpuOK bool
	since time.Time // when progress was last seen
	read  time.Time // when the CPU time was last read
	state byte
}

// MinCPU is the share of wall-clock time (1/MinCPU of it) a process must
// spend on a CPU between two reads for its CPU time to count as progress.
const MinCPU = 100

// Start begins watching process pid, whose words read sig, at now (pid 0:
// watch nothing).
func (w *Watch) Start(pid int, sig [4]uint64, now time.Time) {
	*w = Watch{pid: pid, sig: sig, since: now, read: now}
	if pid != 0 {
		w.cpu, w.cpuOK = readCPU(pid)
	}
}

// PID returns the process being watched, 0 for none.
func (w *Watch) PID() int { return w.pid }

// State returns the scheduling state (see proc.State) the process was in
// when Stalled last found it stalled, 0 before.
func (w *Watch) State() byte { return w.state }

// Stalled records the process's words at now and reports how long it has
// gone without progress, and whether that reaches limit (limit > 0).
func (w *Watch) Stalled(sig [4]uint64, now time.Time, limit time.Duration) (idle time.Duration, stalled bool) {
	if w.pid == 0 || limit <= 0 {
		return 0, false
	}
	if sig != w.sig {
		w.sig, w.since = sig, now
		return 0, false
	}
	if every := max(limit/8, time.Millisecond); now.Sub(w.read) >= every || now.Sub(w.since) >= limit {
		cpu, ok := readCPU(w.pid)
		if !ok {
			w.since = now // gone, or cannot tell: never a stall
			return 0, false
		}
		if !w.cpuOK || (cpu-w.cpu)*MinCPU >= now.Sub(w.read) {
			w.since = now
		}
		w.cpu, w.cpuOK, w.read = cpu, true, now
	}
	idle = now.Sub(w.since)
	if idle < limit {
		return idle, false
	}
	st, err := proc.State(w.pid)
	if err != nil || st == 't' || st == 'Z' || st == 'X' || st == 'x' {
		w.since = now // traced, gone, or cannot tell
		return 0, false
	}
	w.state = st
	return idle, true
}

func readCPU(pid int) (time.Duration, bool) {
	d, err := proc.CPUTime(pid)
	return d, err == nil
}

// DescribeState says what a scheduling state means, for messages:
// "stopped by a signal (state T)".
func DescribeState(state byte) string {
	var what string
	switch state {
	case 'R':
		what = "runnable"
	case 'S':
		what = "asleep"
	case 'D':
		what = "in uninterruptible sleep"
	case 'T':
		what = "stopped by a signal"
	case 't':
		what = "stopped by a tracer"
	case 0:
		return "in an unknown state"
	default:
		what = "in state"
	}
	return fmt.Sprintf("%s (state %c)", what, state)
}
