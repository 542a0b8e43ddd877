//go:build !linux

package proc

import (
	"errors"
	"os"
	"time"
)

// Self returns the ID of the calling process; its start time is zero here.
func Self() ID { return ID{PID: os.Getpid()} }

// StartTime is not supported on this platform.
func StartTime(pid int) (uint64, error) { return 0, errors.ErrUnsupported }

// Alive is not supported on this platform.
func Alive(id ID) (bool, error) { return false, errors.ErrUnsupported }

// Children is not supported on this platform.
func Children(pid int) ([]Child, error) { return nil, errors.ErrUnsupported }

// State is not supported on this platform.
func State(pid int) (byte, error) { return 0, errors.ErrUnsupported }

// CPUTime is not supported on this platform.
func CPUTime(pid int) (time.Duration, error) { return 0, errors.ErrUnsupported }
