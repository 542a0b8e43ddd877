//go:build !linux

package reexec

// nameProcess does nothing: only Linux lets a process rename itself for ps.
func nameProcess(string) {}
