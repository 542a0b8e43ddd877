//go:build amd64 && !race

package queue

import (
	"sync/atomic"
	"unsafe"
)

// storeRel stores v in *p with release order: every store before it in
// program order is visible before it, to every processor. On amd64 every
// plain store has that order (x86-TSO), and the compiler keeps stores in
// program order, so it is a plain MOV, without the XCHG (a full barrier,
// tens of cycles) of atomic.Uint64.Store. Loads of *p elsewhere stay
// atomic. The critical sections publish with it; their mutex's unlock, a
// locked instruction, is the full barrier that the wake-up check after it
// needs. With the race detector on, storeRel is atomic.Uint64.Store
// (store_other.go), so that the detector sees the ordering.
func storeRel(p *atomic.Uint64, v uint64) {
	*(*uint64)(unsafe.Pointer(p)) = v
}
