//go:build linux

package placement

import (
	"runtime"
	"slices"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Allowed returns the CPUs this process may run on (its affinity mask),
// in increasing order; nil if the mask cannot be read.
func Allowed() []int {
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

// Pin binds the calling OS thread to cpu. The caller must have
// locked its goroutine to the thread.
func Pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set)
}

// Current returns the CPU the calling thread runs on (getcpu), -1 if it
// cannot be read.
func Current() int {
	var cpu uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0); e != 0 {
		return -1
	}
	return int(cpu)
}

// MoveTo moves the calling thread off its current CPU to another CPU it
// may use that is not in avoid (the lowest such), and leaves its affinity
// mask as it was: it narrows the mask to that CPU (the OS migrates the
// thread at once) and then restores it (the OS does not move it back, but
// may later, like any thread's). It returns the CPU the thread was on when
// MoveTo looked, and the CPU it moved it to, or -1 when it did not move it:
// every other CPU is in avoid, or the CPU or the mask could not be read or
// set.
func MoveTo(avoid []int) (from, to int) {
	runtime.LockOSThread() // every call below must reach the same thread
	defer runtime.UnlockOSThread()
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err != nil {
		return -1, -1
	}
	cpu := Current()
	if cpu < 0 {
		return -1, -1
	}
	target := pick(&mask, cpu, avoid)
	if target < 0 {
		return cpu, -1
	}
	var one unix.CPUSet
	one.Set(target)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return cpu, -1
	}
	_ = unix.SchedSetaffinity(0, &mask)
	return cpu, target
}

// pick returns the lowest CPU in mask that is neither cpu nor in avoid, or
// -1.
func pick(mask *unix.CPUSet, cpu int, avoid []int) int {
	for c := 0; c < len(mask)*64; c++ {
		if c != cpu && mask.IsSet(c) && !slices.Contains(avoid, c) {
			return c
		}
	}
	return -1
}
