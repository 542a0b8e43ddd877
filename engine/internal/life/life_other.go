//go:build !linux

package life

import (
	"errors"
	"sync/atomic"
)

// Arm is not supported here: the coordinator learns of a worker's
// death only when it has waited for the process.
func Arm(word *atomic.Uint32) error { return errors.ErrUnsupported }

// Died is never set where Arm is not supported.
const Died = 0x40000000
