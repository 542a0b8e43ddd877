//go:build linux

package shmap

import "unsafe"

// SetTestHook sets the function called at the named points of the write
// protocol (nil: none), so that a test can kill the process there.
func SetTestHook(f func(point string)) { testHook = f }

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }
