package pool

import (
	"bytes"
	"os"
	"strconv"
)

// processStopped reports whether process pid is stopped by a signal (state
// T in /proc/PID/stat; a debugger's tracing stop is t, and does not count).
func processStopped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The command name (field 2) is in parentheses and may hold anything:
	// the state is the first field after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'T'
}
