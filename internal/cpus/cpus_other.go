//go:build !linux

package cpus

import "runtime"

// Limit returns 0: no cgroup limit is known on this platform.
func Limit() int { return 0 }

// Online returns runtime.NumCPU().
func Online() int { return runtime.NumCPU() }
