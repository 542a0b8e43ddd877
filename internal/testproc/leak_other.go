//go:build !linux

package testproc

import (
	"errors"

	"github.com/shmpar/shmpar/internal/proc"
)

// openFDs is not supported on this platform: Main runs without the leak
// check.
func openFDs() (map[int]string, error) { return nil, errors.ErrUnsupported }

func childRole(pid int) string { return "" }

func killChild(id proc.ID) error { return errors.ErrUnsupported }
