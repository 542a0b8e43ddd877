//go:build !linux

package queue

// registerFences reports that asymmetric fences are unsupported here: bias
// holders fence their own stores.
func registerFences() bool { return false }

// revokeFence has nothing to do where no process skips its own fence.
func revokeFence() {}
