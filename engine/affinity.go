package engine

// UsableCPUs returns the number of CPUs this process may use: the CPUs in
// its affinity mask, capped by its cgroup's CPU quota (cgroup v2 cpu.max)
// when there is one; at least 1. It is the default team size, which the
// host's core count (runtime.NumCPU) is not inside a container.
func UsableCPUs() int {
	n := len(allowedCPUs())
	if q := cgroupCPUs(); q > 0 && (n == 0 || q < n) {
		n = q
	}
	return max(1, n)
}
