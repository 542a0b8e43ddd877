// Package value provides Value[T], a typed scalar in a shared memory segment
// with atomic operations that work across processes, like
// multiprocessing.Value in Python or sync/atomic in one Go process.
//
// Load, Store, Add, Swap and CompareAndSwap are single atomic instructions on
// the shared word (a compare-and-swap loop for float32, float64, and the
// 8- and 16-bit kinds, which sync/atomic has no instruction for). For a
// compound update of several values, take the Value's Mutex: a robust
// lock.Mutex stored in the segment, shared by every process that opens it.
//
// A Value is a 0-d .npy file: numpy.load(path, mmap_mode="r+")[()] reads it.
//
// # Concurrency
//
// All methods but Close may be called from any goroutine of any process that
// has the Value open; the atomic operations are sequentially consistent, as
// in sync/atomic. CompareAndSwap on a float compares bit patterns, so NaN
// matches an identical NaN, and -0 does not match +0.
//
// The atomic operations assume a little-endian machine (all of shmpar's
// platforms are), as the .npy header written by the segment says ('<').
//
// # Types
//
// T is a Number, which is shm.Number: the integers (int and uint stored at
// their width) and the floats, named types among them. A complex number has
// no atomic operations; put it in a one-element array.Array under its Mutex.
//
// # Crossing to workers
//
// *Value[T] implements gob.GobEncoder and gob.GobDecoder like array.Array:
// it travels as a reference to its segment and is attached once per process.
//
// # Imports
//
// value imports shm (the segment) and lock (the Value's Mutex), besides
// the standard library. engine must not import it.
package value
