//go:build linux

package engine

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// allowedCPUs returns the CPUs this process may run on (its affinity mask),
// in increasing order; nil if the mask cannot be read.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for i := 0; i < len(set)*64; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// cgroupCPUs returns the CPU limit of the process's cgroup v2 (the smallest
// ⌈quota/period⌉ of cpu.max along its path), 0 when there is none.
func cgroupCPUs() int {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	var rel string
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
			break
		}
	}
	if rel == "" {
		return 0
	}
	limit := 0
	for dir := filepath.Join("/sys/fs/cgroup", rel); strings.HasPrefix(dir, "/sys/fs/cgroup"); dir = filepath.Dir(dir) {
		if n := parseCPUMax(dir); n > 0 && (limit == 0 || n < limit) {
			limit = n
		}
		if dir == "/sys/fs/cgroup" {
			break
		}
	}
	return limit
}

// parseCPUMax reads dir/cpu.max ("max 100000" or "200000 100000") and
// returns ⌈quota/period⌉, 0 for no limit.
func parseCPUMax(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
	if err != nil {
		return 0
	}
	return cpuMaxLimit(string(b))
}

func cpuMaxLimit(s string) int {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0
	}
	return int(math.Ceil(q / p))
}

// pinThread binds the calling OS thread to cpu. The caller must have
// locked its goroutine to the thread.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// currentCPU returns the CPU the calling thread runs on (getcpu), -1 if it
// cannot be read.
func currentCPU() int {
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

// moveTo moves the calling thread off its current CPU to another CPU it
// may use that is not in avoid (the lowest such), and leaves its affinity
// mask as it was: it narrows the mask to that CPU (the OS migrates the
// thread at once) and then restores it (the OS does not move it back). It
// reports whether the thread moved; it does not when every other CPU is in
// avoid.
func moveTo(avoid []int) bool {
	runtime.LockOSThread() // every call below must reach the same thread
	defer runtime.UnlockOSThread()
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err != nil {
		return false
	}
	cpu := currentCPU()
	if cpu < 0 {
		return false
	}
	target := -1
	for c := 0; c < len(mask)*64 && target < 0; c++ {
		if c != cpu && mask.IsSet(c) && !slices.Contains(avoid, c) {
			target = c
		}
	}
	if target < 0 {
		return false
	}
	var one unix.CPUSet
	one.Set(target)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return false
	}
	_ = unix.SchedSetaffinity(0, &mask)
	return currentCPU() != cpu
}
