//go:build !linux

package futex

import (
	"errors"
	"time"
)

// Wait is not supported on this platform; it returns errors.ErrUnsupported.
func Wait(addr *uint32, val uint32, timeout time.Duration) error {
	return errors.ErrUnsupported
}

// Wake is not supported on this platform; it returns errors.ErrUnsupported.
func Wake(addr *uint32, n int) (int, error) {
	return 0, errors.ErrUnsupported
}

// WaitHeld is not supported on this platform; it returns
// errors.ErrUnsupported.
func WaitHeld(addr *uint32, val uint32, timeout time.Duration) error {
	return errors.ErrUnsupported
}
