//go:build !amd64

package lock

import "sync/atomic"

var pauseSink uint32

// pause busy-waits for roughly n short spin-wait hints.
func pause(n uint32) {
	for i := uint32(0); i < n; i++ {
		atomic.LoadUint32(&pauseSink)
	}
}
