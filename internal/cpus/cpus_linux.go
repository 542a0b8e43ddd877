//go:build linux

package cpus

import (
	"os"
	"runtime"
)

// Limit returns the CPU bandwidth limit of the calling process's cgroup
// (v1 or v2) in whole CPUs, rounded up: 2 for a quota of 150 ms per 100 ms.
// It returns 0 when no limit is set or none can be read.
func Limit() int { return limit(os.DirFS("/")) }

// Online returns the number of CPUs online on the machine, whatever the
// calling process's affinity mask; runtime.NumCPU() if sysfs cannot be
// read.
func Online() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if n := parseList(string(b)); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}
