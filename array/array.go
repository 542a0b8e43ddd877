package array

import (
	"errors"
	"fmt"
	"slices"

	"github.com/shmpar/shmpar/lock"
	"github.com/shmpar/shmpar/shm"
)

// Element is the set of element types an Array may hold: shm.Element, the
// pointer-free numeric scalars, complex numbers included.
type Element = shm.Element

// ErrType is returned when a segment's element type, or its kind, does not
// match the Array being opened.
var ErrType = errors.New("element type mismatch")

// ErrShape is returned when a shape has no dimensions or a dimension that is
// zero or negative.
var ErrShape = errors.New("invalid shape")

// Array is a typed n-d array in a shared memory segment. Its zero value is
// not usable; get one from Create, CreateShape, CreateAnon or Open. An Array
// must not be copied after first use (copy the pointer).
type Array[T Element] struct {
	seg      *shm.Segment
	data     []T
	shape    []int
	mu       *lock.Mutex
	attached bool // mapping shared through shm.Attach; Close leaves it open
}

// Create creates a one-dimensional shared array of n zeroed elements named
// name. Options choose the directory, mode and persistence (see shm.Option).
// It returns shm.ErrExist if the name is taken.
func Create[T Element](name string, n int, opts ...shm.Option) (*Array[T], error) {
	return CreateShape[T](name, []int{n}, opts...)
}

// CreateShape creates a shared array of the given shape (row-major, C order)
// with zeroed elements.
func CreateShape[T Element](name string, shape []int, opts ...shm.Option) (*Array[T], error) {
	meta, err := newMeta[T](shape)
	if err != nil {
		return nil, fmt.Errorf("create array %s: %w", name, err)
	}
	seg, err := shm.Create(name, meta, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	return wrap[T](seg, false)
}

// CreateAnon creates an anonymous shared array of n elements, backed by a
// memfd: nothing is left in any directory when the last process closes it.
// Its Path (/proc/PID/fd/FD) lets other processes of the same user open it
// while this process keeps it open.
func CreateAnon[T Element](n int) (*Array[T], error) {
	meta, err := newMeta[T]([]int{n})
	if err != nil {
		return nil, fmt.Errorf("create anonymous array: %w", err)
	}
	seg, err := shm.CreateAnon("array", meta)
	if err != nil {
		return nil, err // names the operation
	}
	return wrap[T](seg, false)
}

// Open opens the shared array called name. It returns ErrType if the segment
// holds another element type or is not an array, and the errors of shm.Open
// for missing, truncated or damaged files. A segment of another user, or one
// whose mode lets group or others write it, is refused (shm.ErrForeign)
// unless opts include shm.AllowForeign(); an Array opened that way crosses
// to workers with the opt-in (see shm.Ref).
func Open[T Element](name string, opts ...shm.Option) (*Array[T], error) {
	seg, err := shm.Open(name, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	a, err := wrap[T](seg, false)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open array %s: %w", name, err)
	}
	return a, nil
}

func newMeta[T Element](shape []int) (shm.Meta, error) {
	dt := shm.DTypeFor[T]()
	if dt == shm.Invalid {
		var zero T
		return shm.Meta{}, fmt.Errorf("%w: %T is not a supported element type", ErrType, zero)
	}
	if len(shape) == 0 {
		return shm.Meta{}, fmt.Errorf("%w: no dimensions (use package value for a scalar)", ErrShape)
	}
	for i, d := range shape {
		if d <= 0 {
			return shm.Meta{}, fmt.Errorf("%w: dimension %d is %d; every dimension must be positive", ErrShape, i, d)
		}
	}
	return shm.Meta{DType: dt, Shape: slices.Clone(shape), Kind: shm.KindArray}, nil
}

// wrap checks that seg holds an array of T and builds the typed view.
func wrap[T Element](seg *shm.Segment, attached bool) (*Array[T], error) {
	m := seg.Meta()
	want := shm.DTypeFor[T]()
	if m.Kind != shm.KindArray {
		return nil, fmt.Errorf("%w: %s is a %s segment, not an array", ErrType, seg.Path(), m.Kind)
	}
	if m.DType != want {
		var zero T
		return nil, fmt.Errorf("%w: %s holds %s, not %s (%T)", ErrType, seg.Path(), m.DType, want, zero)
	}
	mu, err := lock.Place[lock.Mutex](seg.Locks(), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: lock area: %w", seg.Path(), err)
	}
	data, err := shm.View[T](seg)
	if err != nil {
		return nil, err
	}
	return &Array[T]{seg: seg, data: data, shape: slices.Clone(m.Shape), mu: mu, attached: attached}, nil
}

// Data returns the elements as a slice over the shared mapping, in row-major
// order. Writes are seen by every process that maps the segment; no copy is
// made. The slice is invalid after Close.
func (a *Array[T]) Data() []T { return a.data }

// Len returns the number of elements (the product of the shape).
func (a *Array[T]) Len() int { return len(a.data) }

// Shape returns a copy of the array's dimensions.
func (a *Array[T]) Shape() []int { return slices.Clone(a.shape) }

// Name returns the segment's name.
func (a *Array[T]) Name() string { return a.seg.Name() }

// Path returns the segment's file path (for an anonymous array, a
// /proc/PID/fd/FD path valid while this process keeps it open).
func (a *Array[T]) Path() string { return a.seg.Path() }

// Segment returns the underlying segment.
func (a *Array[T]) Segment() *shm.Segment { return a.seg }

// Mutex returns the array's robust lock. It lives in the segment, so every
// process that opens the array shares it; see lock.Mutex for what happens
// when its owner dies.
func (a *Array[T]) Mutex() *lock.Mutex { return a.mu }

// Close unmaps the array in this process. The segment stays until Unlink.
// After Close the slice returned by Data must not be used. Closing an Array
// decoded from a gob stream (one that shares a process-wide mapping) does
// nothing.
func (a *Array[T]) Close() error {
	if a.attached {
		return nil
	}
	a.data = nil
	return a.seg.Close()
}

// Unlink removes the segment's name; processes that have it mapped keep
// their mapping until they close it.
func (a *Array[T]) Unlink() error { return a.seg.Unlink() }
