//go:build !linux

package pool

// processStopped reports false: without /proc the pool does not see
// stopped processes.
func processStopped(pid int) bool { return false }
