//go:build !linux

package engine

import (
	"errors"
	"runtime"
)

func allowedCPUs() []int {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

func pinThread(cpu int) error { return errors.ErrUnsupported }

func currentCPU() int { return -1 }

func moveTo(avoid []int) bool { return false }
