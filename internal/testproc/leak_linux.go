//go:build linux

package testproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/shmpar/shmpar/internal/proc"
)

// openFDs returns this process's open descriptors and what each points at,
// leaving out the one it reads the list with.
func openFDs() (map[int]string, error) {
	dir := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fds := make(map[int]string, len(entries))
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil || target == dir {
			continue // closed meanwhile, or ReadDir's own
		}
		fds[fd] = target
	}
	return fds, nil
}

// childRole returns the testproc role in the environment of child pid, or
// "" if it has none (or the environment cannot be read).
func childRole(pid int) string {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	role := ""
	for _, kv := range bytes.Split(env, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte(roleVar+"=")); ok {
			role = string(v) // the last one counts, as for exec
		}
	}
	return role
}

// killChild sends SIGKILL to child id unless it is already dead or its pid
// now names another process.
func killChild(id proc.ID) error {
	st, err := proc.StartTime(id.PID)
	if err != nil || st != id.Start {
		return nil // gone
	}
	if alive, err := proc.Alive(id); err != nil || !alive {
		return err
	}
	if err := syscall.Kill(id.PID, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("child process %d: %w", id.PID, err)
	}
	return nil
}
