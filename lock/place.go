package lock

import (
	"fmt"
	"unsafe"
)

// Place returns a pointer to a T stored in b at byte offset off, after
// checking that it fits (an error wrapping ErrOutOfRange otherwise) and that
// the address is 8-byte aligned (an error wrapping ErrMisaligned otherwise).
// It does not initialize the memory: the zero bytes of a fresh mapping are an
// unlocked Mutex, RWMutex or RLock, an empty Semaphore, a clear Event and an
// idle Cond; a Barrier needs Init once, by one process, before use (and so does a
// Semaphore with a starting count).
//
// The pointer is valid as long as b's memory is (for a mapping: until it is
// unmapped). Processes that place the same T at the same offset of the same
// shared file share it.
func Place[T Mutex | RWMutex | Semaphore | Barrier | Event | Cond | RLock](b []byte, off int) (*T, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	name := typeName(&zero)
	if off < 0 || off > len(b) || len(b)-off < size {
		return nil, fmt.Errorf("place %s (%d bytes) at offset %d of a %d-byte buffer: %w",
			name, size, off, len(b), ErrOutOfRange)
	}
	p := unsafe.Pointer(unsafe.SliceData(b[off:]))
	if uintptr(p)%8 != 0 {
		return nil, fmt.Errorf("place %s at offset %d: address %#x is not 8-byte aligned: %w",
			name, off, uintptr(p), ErrMisaligned)
	}
	return (*T)(p), nil
}

func typeName(p any) string {
	switch p.(type) {
	case *Mutex:
		return "Mutex"
	case *RWMutex:
		return "RWMutex"
	case *Semaphore:
		return "Semaphore"
	case *Barrier:
		return "Barrier"
	case *Event:
		return "Event"
	case *Cond:
		return "Cond"
	case *RLock:
		return "RLock"
	}
	return "primitive"
}
