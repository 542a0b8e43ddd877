// Package array provides Array[T], a typed n-dimensional array that lives in
// a shared memory segment and is mapped, without copying, by every process
// that opens it.
//
// An Array is created by name in a directory (by default /dev/shm, see
// shm.DefaultDir), opened by name from any process, and viewed as a plain Go
// slice with Data. The segment is a valid .npy file, so numpy attaches to the
// same bytes with numpy.load(path, mmap_mode="r+"); a segment in a directory
// on disk is a checkpoint that survives the processes and the machine.
//
//	a, err := array.Create[float64]("grid", 1<<20)
//	...
//	x := a.Data() // []float64 over the shared pages
//
// # Concurrency
//
// Data returns memory that other processes read and write at the same time.
// Go's memory model and race detector do not reach into other processes:
// coordinate with the Array's own Mutex (a robust lock.Mutex stored in the
// segment and shared by every process that opens it), with atomics, or by
// giving each process disjoint index ranges, as package engine does.
// An *Array may be used by several goroutines; Close must not race with
// uses of the slice returned by Data.
//
// # Crossing to workers
//
// *Array[T] implements gob.GobEncoder and gob.GobDecoder: it encodes as its
// path and element type, and decodes by attaching to the segment through
// shm.Attach, which maps each segment once per process. This is how an Array
// inside a kernel's arguments reaches engine workers by name. An Array that
// was decoded this way shares the process-wide mapping; its Close is a no-op.
//
// # Element types
//
// T is an Element, which is shm.Element: one of the pointer-free numeric
// kinds, complex numbers included (named types such as `type Celsius
// float64` are fine; int and uint are stored as the fixed-size integers of
// their width). A pointer in shared memory would mean nothing in another
// process, so other types are refused at compile time. Opening a segment
// with the wrong T returns ErrType naming both types.
//
// # Imports
//
// array imports shm (the segment and its format) and lock (the Array's
// Mutex), besides the standard library. engine must not import it: arrays
// reach workers through gob as segment references.
package array
