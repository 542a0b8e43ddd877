//go:build linux

package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var self = sync.OnceValue(func() ID {
	pid := os.Getpid()
	st, err := stat(pid)
	if err != nil {
		// /proc is not mounted: fall back to the pid alone.
		return ID{PID: pid}
	}
	return ID{PID: pid, Start: st.start}
})

// Self returns the ID of the calling process.
func Self() ID { return self() }

// StartTime returns the start time of process pid in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	st, err := stat(pid)
	return st.start, err
}

// Alive reports whether the process named by id is running: the pid exists,
// is not a zombie, and has the same start time (so a reused pid is not taken
// for the original). A zero Start matches any start time.
func Alive(id ID) (bool, error) {
	if id.PID <= 0 {
		return false, nil
	}
	st, err := stat(id.PID)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.dead() {
		return false, nil
	}
	return id.Start == 0 || st.start == id.Start, nil
}

// Children returns the processes whose parent is process pid, zombies
// included (a child that exited and was not reaped is still a child). It
// reads the stat file of every process in /proc, so it is meant for tests and
// diagnostics, not hot paths; a process that exits during the scan is left
// out.
func Children(pid int) ([]Child, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Child
	for _, e := range entries {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil || cpid <= 0 {
			continue // not a process directory
		}
		st, err := stat(cpid)
		if err != nil || st.ppid != pid {
			continue // gone meanwhile, or not a child
		}
		out = append(out, Child{ID: ID{PID: cpid, Start: st.start}, Zombie: st.dead()})
	}
	return out, nil
}

// State returns the scheduling state of process pid (field 3 of
// /proc/PID/stat, its main thread's): 'R' running or runnable, 'S' asleep,
// 'D' in uninterruptible sleep, 'T' stopped by a signal, 't' stopped by a
// tracer, 'Z' a zombie, ...
func State(pid int) (byte, error) {
	st, err := stat(pid)
	return st.state, err
}

// CPUTime returns the CPU time all threads of process pid have used, to
// the nanosecond: the process's CPU-time clock (clock_getcpuclockid),
// which Linux lets any process in the same pid namespace read. It fails
// once the process has been reaped.
func CPUTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("CPU time of pid %d", pid)
	}
	var ts unix.Timespec
	// CPUCLOCK_SCHED (2) of the process (not a thread): ^pid << 3 | 2.
	if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err != nil {
		return 0, fmt.Errorf("CPU time of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// statFields are the fields of /proc/PID/stat that this package reads.
type statFields struct {
	state byte   // field 3: R, S, D, Z, X, ...
	ppid  int    // field 4
	start uint64 // field 22, clock ticks since boot
}

// dead reports whether the state is that of a process that has exited: a
// zombie, or one being torn down.
func (s statFields) dead() bool { return s.state == 'Z' || s.state == 'X' || s.state == 'x' }

// stat reads the fields this package needs from /proc/PID/stat.
func stat(pid int) (statFields, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return statFields{}, err
	}
	return parseStat(b)
}

// errMalformed is the cause of every parse failure of a stat line.
var errMalformed = errors.New("malformed /proc/PID/stat line")

// parseStat extracts the state (field 3), parent pid (field 4) and start
// time (field 22) from the contents of /proc/PID/stat. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so
// fields are counted from the last ')'.
func parseStat(b []byte) (statFields, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return statFields{}, fmt.Errorf("%w: no command name", errMalformed)
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return statFields{}, fmt.Errorf("%w: %d fields after the command name", errMalformed, len(fields))
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	if err != nil {
		return statFields{}, fmt.Errorf("%w: parent pid: %w", errMalformed, err)
	}
	start, err := strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return statFields{}, fmt.Errorf("%w: start time: %w", errMalformed, err)
	}
	return statFields{state: fields[0][0], ppid: ppid, start: start}, nil
}
