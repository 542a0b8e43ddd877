//go:build !linux

package spin

import "runtime"

func Yield() { runtime.Gosched() }
