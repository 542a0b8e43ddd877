//go:build !amd64

package spinwait

import "sync/atomic"

var pauseSink uint32

// Pause busy-waits for roughly n short spin-wait hints: n atomic loads, where
// no PAUSE instruction is at hand.
func Pause(n uint32) {
	for i := uint32(0); i < n; i++ {
		atomic.LoadUint32(&pauseSink)
	}
}
