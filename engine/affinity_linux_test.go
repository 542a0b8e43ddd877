//go:build linux

package engine_test

import "golang.org/x/sys/unix"

// threadCPUs returns how many CPUs the calling thread may run on.
func threadCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return -1
	}
	return set.Count()
}
