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
	st, _, err := stat(pid)
	if err != nil {
		// /proc is not mounted: fall back to the pid alone.
		return ID{PID: pid}
	}
	return ID{PID: pid, Start: st}
})

// Self returns the ID of the calling process.
func Self() ID { return self() }

// StartTime returns the start time of process pid in clock ticks since boot.
func StartTime(pid int) (uint64, error) {
	st, _, err := stat(pid)
	return st, err
}

// Alive reports whether the process named by id is running: the pid exists,
// is not a zombie, and has the same start time (so a reused pid is not taken
// for the original). A zero Start matches any start time.
func Alive(id ID) (bool, error) {
	if id.PID <= 0 {
		return false, nil
	}
	st, state, err := stat(id.PID)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if state == 'Z' || state == 'X' || state == 'x' {
		return false, nil
	}
	return id.Start == 0 || st == id.Start, nil
}

// State returns the scheduling state of process pid (field 3 of
// /proc/PID/stat, its main thread's): 'R' running or runnable, 'S' asleep,
// 'D' in uninterruptible sleep, 'T' stopped by a signal, 't' stopped by a
// tracer, 'Z' a zombie, ...
func State(pid int) (byte, error) {
	_, st, err := stat(pid)
	return st, err
}

// CPUTime returns the CPU time all threads of process pid have used, to
// the nanosecond: the process's CPU-time clock (clock_getcpuclockid),
// which Linux lets any process in the same pid namespace read. It fails
// once the process has been reaped.
func CPUTime(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, fmt.Errorf("proc: CPU time of pid %d", pid)
	}
	var ts unix.Timespec
	// CPUCLOCK_SCHED (2) of the process (not a thread): ^pid << 3 | 2.
	if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err != nil {
		return 0, fmt.Errorf("proc: CPU time of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

// stat reads the start time and state of pid from /proc/PID/stat.
func stat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStat(b)
}

// parseStat extracts the state (field 3) and start time (field 22) from the
// contents of /proc/PID/stat. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStat(b []byte) (start uint64, state byte, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("proc: malformed stat line")
	}
	fields := bytes.Fields(b[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("proc: malformed stat line: %d fields after command", len(fields))
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("proc: malformed start time: %w", err)
	}
	return start, fields[0][0], nil
}
