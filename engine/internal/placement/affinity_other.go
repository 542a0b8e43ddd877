//go:build !linux

package placement

import (
	"errors"
	"runtime"
)

// Allowed returns every CPU of the machine: the affinity mask is not read
// here.
func Allowed() []int {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// Pin is not supported here.
func Pin(cpu int) error { return errors.ErrUnsupported }

// Current returns -1: the CPU is not known here.
func Current() int { return -1 }

// MoveTo never moves the thread here: it returns -1, -1.
func MoveTo(avoid []int) (from, to int) { return -1, -1 }
