//go:build !linux

package testproc

import "errors"

// FutexSleepers is not supported on this platform.
func FutexSleepers(pid int, addr uintptr) (int, error) { return 0, errors.ErrUnsupported }

// MappedAt is not supported on this platform.
func MappedAt(pid int, path string) (uintptr, error) { return 0, errors.ErrUnsupported }
