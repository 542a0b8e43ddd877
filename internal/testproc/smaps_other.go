//go:build !linux

package testproc

import "errors"

// Mapping is one mapping of a process's address space (Linux only).
type Mapping struct {
	Start     uintptr
	Path      string
	Size, Rss int64
}

// Mappings is not supported here.
func Mappings(pid int) ([]Mapping, error) { return nil, errors.ErrUnsupported }
