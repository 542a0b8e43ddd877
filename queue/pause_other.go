//go:build !amd64

package queue

import "sync/atomic"

var pauseSink uint32

// pause busy-waits for about n short spin-wait hints.
func pause(n uint32) {
	for range n {
		atomic.LoadUint32(&pauseSink)
	}
}
