//go:build linux

package chaos

import (
	"bytes"
	"os"
	"strconv"

	"github.com/shmpar/shmpar/internal/proc"
)

// marked returns the live processes (not zombies) whose environment holds
// EnvTrial=marker, other than the calling one. A process's environment is
// the one it was started with (/proc/PID/environ), which is what it passed
// on to the processes it started.
func marked(marker string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(EnvTrial + "=" + marker + "\x00")
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, want...)) {
			continue
		}
		if st, err := proc.State(pid); err != nil || st == 'Z' || st == 'X' || st == 'x' {
			continue
		}
		out = append(out, pid)
	}
	return out
}
