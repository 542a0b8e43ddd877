//go:build !linux

package engine

import "runtime"

func osYield() { runtime.Gosched() }
