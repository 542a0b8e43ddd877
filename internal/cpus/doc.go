// Package cpus counts the CPUs a process may use, for the size of a team
// and for telling when the processes on a machine outnumber its CPUs.
//
// Limit is the CPU bandwidth limit of the process's cgroup, ⌈quota/period⌉
// of the tightest limit on the path from its cgroup up to the root of the
// hierarchy, in cgroup v2 (cpu.max) and in cgroup v1 (cpu.cfs_quota_us and
// cpu.cfs_period_us, where the cpu controller is mounted: a v1 or a hybrid
// system). The hierarchies are found through /proc/self/mountinfo, and the
// process's cgroup path (/proc/self/cgroup) is taken relative to the root
// of the mount, so the limit is found inside a container whether or not it
// has a cgroup namespace of its own. Online is the number of CPUs online on
// the machine (/sys/devices/system/cpu/online), whatever the affinity mask.
// (The mask itself, and so a cpuset cgroup, is read with sched_getaffinity
// by the caller.)
//
// It is shared by engine (UsableCPUs, the default team size) and mpi (the
// spin setting of ranks that share a machine). On platforms other than
// Linux, Limit returns 0 (no limit known) and Online runtime.NumCPU().
//
// Imports: the standard library only.
package cpus
