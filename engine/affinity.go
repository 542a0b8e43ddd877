package engine

import (
	"github.com/shmpar/shmpar/engine/internal/placement"
	"github.com/shmpar/shmpar/internal/cpus"
)

// UsableCPUs returns the number of CPUs this process may use: the CPUs in
// its affinity mask (which a cpuset cgroup, taskset, mpirun's binding or
// srun's --cpus-per-task narrow), capped by its cgroup's CPU quota, rounded
// up (cgroup v2 cpu.max, or cgroup v1 cpu.cfs_quota_us over
// cpu.cfs_period_us, the tightest on the way to the root), when there is
// one; at least 1. It is the default team size, which the host's core count
// (runtime.NumCPU) is not inside a container or a batch job.
func UsableCPUs() int {
	n := len(placement.Allowed())
	if q := cpus.Limit(); q > 0 && (n == 0 || q < n) {
		n = q
	}
	return max(1, n)
}
