//go:build linux

package engine

import "syscall"

// fileLimit returns this process's soft limit on open files
// (RLIMIT_NOFILE), 0 if unknown.
func fileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 0
	}
	return int(r.Cur)
}
