//go:build !linux

package engine

import (
	"errors"
	"sync/atomic"
)

// armLife is not supported here: the coordinator learns of a worker's
// death only when it has waited for the process.
func armLife(word *atomic.Uint32) error { return errors.ErrUnsupported }

// lifeDied is never set where armLife is not supported.
const lifeDied = 0x40000000
