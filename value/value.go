package value

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/lock"
	"github.com/shmpar/shmpar/shm"
)

// Number is the set of types a Value may hold: shm.Number, the integers
// and floats (a complex number has no atomic operations).
type Number = shm.Number

// ErrType is returned when a segment's element type, or its kind, does not
// match the Value being opened.
var ErrType = errors.New("type mismatch")

// Value is a scalar of type T in a shared memory segment. Its zero value is
// not usable; get one from Create, CreateAnon or Open. A Value must not be
// copied after first use (copy the pointer).
type Value[T Number] struct {
	seg      *shm.Segment
	p        unsafe.Pointer // the data word: page aligned, so the whole aligned word is ours
	wide     bool           // 8-byte T: 64-bit atomics; else 32-bit atomics on the containing word
	intAdd   bool           // T is an integer kind whose size fits the atomic word exactly
	mu       *lock.Mutex
	attached bool
}

// Create creates a shared Value named name, holding zero.
func Create[T Number](name string, opts ...shm.Option) (*Value[T], error) {
	meta, err := newMeta[T]()
	if err != nil {
		return nil, fmt.Errorf("create value %s: %w", name, err)
	}
	seg, err := shm.Create(name, meta, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	return wrap[T](seg, false)
}

// CreateAnon creates an anonymous shared Value backed by a memfd.
func CreateAnon[T Number]() (*Value[T], error) {
	meta, err := newMeta[T]()
	if err != nil {
		return nil, fmt.Errorf("create anonymous value: %w", err)
	}
	seg, err := shm.CreateAnon("value", meta)
	if err != nil {
		return nil, err // names the operation
	}
	return wrap[T](seg, false)
}

// Open opens the shared Value called name. It returns ErrType if the segment
// is not a Value of type T, and the errors of shm.Open for missing,
// truncated or damaged files. A segment of another user, or one whose mode
// lets group or others write it, is refused (shm.ErrForeign) unless opts
// include shm.AllowForeign().
func Open[T Number](name string, opts ...shm.Option) (*Value[T], error) {
	seg, err := shm.Open(name, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	v, err := wrap[T](seg, false)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open value %s: %w", name, err)
	}
	return v, nil
}

func newMeta[T Number]() (shm.Meta, error) {
	dt := shm.DTypeFor[T]()
	if dt == shm.Invalid {
		var zero T
		return shm.Meta{}, fmt.Errorf("%w: %T is not a supported value type", ErrType, zero)
	}
	return shm.Meta{DType: dt, Kind: shm.KindValue}, nil
}

func wrap[T Number](seg *shm.Segment, attached bool) (*Value[T], error) {
	m := seg.Meta()
	want := shm.DTypeFor[T]()
	if m.Kind != shm.KindValue || len(m.Shape) != 0 {
		return nil, fmt.Errorf("%w: %s is a %s segment of shape %v, not a value", ErrType, seg.Path(), m.Kind, m.Shape)
	}
	if m.DType != want {
		var zero T
		return nil, fmt.Errorf("%w: %s holds %s, not %s (%T)", ErrType, seg.Path(), m.DType, want, zero)
	}
	mu, err := lock.Place[lock.Mutex](seg.Locks(), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: lock area: %w", seg.Path(), err)
	}
	b := seg.Data()
	var zero T
	size := unsafe.Sizeof(zero)
	// The data region starts on a page and is padded to one, so the aligned
	// 4- or 8-byte word holding the value belongs to this segment alone.
	if len(b) < int(size) || uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		return nil, fmt.Errorf("%s: data region is misaligned or short", seg.Path())
	}
	isInt := want != shm.Float32 && want != shm.Float64
	return &Value[T]{
		seg:      seg,
		p:        unsafe.Pointer(&b[0]),
		wide:     size == 8,
		intAdd:   isInt && (size == 4 || size == 8),
		mu:       mu,
		attached: attached,
	}, nil
}

func (v *Value[T]) w32() *uint32 { return (*uint32)(v.p) }
func (v *Value[T]) w64() *uint64 { return (*uint64)(v.p) }

// fromBits reinterprets the low bytes of a word as T (little-endian).
func fromBits[T Number](u uint64) T { return *(*T)(unsafe.Pointer(&u)) }

// toBits returns the bit pattern of x in the low bytes of a word.
func toBits[T Number](x T) uint64 {
	var u uint64
	*(*T)(unsafe.Pointer(&u)) = x
	return u
}

// merge32 replaces the bytes of T at the bottom of word w with x.
func merge32[T Number](w uint32, x T) uint32 {
	var zero T
	size := unsafe.Sizeof(zero)
	if size == 4 {
		return uint32(toBits(x))
	}
	mask := uint32(1)<<(8*size) - 1
	return w&^mask | uint32(toBits(x))&mask
}

// Load atomically loads the value.
func (v *Value[T]) Load() T {
	if v.wide {
		return fromBits[T](atomic.LoadUint64(v.w64()))
	}
	return fromBits[T](uint64(atomic.LoadUint32(v.w32())))
}

// Store atomically stores x.
func (v *Value[T]) Store(x T) {
	if v.wide {
		atomic.StoreUint64(v.w64(), toBits(x))
		return
	}
	for {
		old := atomic.LoadUint32(v.w32())
		if atomic.CompareAndSwapUint32(v.w32(), old, merge32(old, x)) {
			return
		}
	}
}

// Add atomically adds delta and returns the new value. Integer kinds wrap
// around on overflow, as in Go.
func (v *Value[T]) Add(delta T) T {
	if v.intAdd {
		if v.wide {
			return fromBits[T](atomic.AddUint64(v.w64(), toBits(delta)))
		}
		return fromBits[T](uint64(atomic.AddUint32(v.w32(), uint32(toBits(delta)))))
	}
	for {
		old := v.Load()
		if v.CompareAndSwap(old, old+delta) {
			return old + delta
		}
	}
}

// Swap atomically stores x and returns the previous value.
func (v *Value[T]) Swap(x T) T {
	if v.wide {
		return fromBits[T](atomic.SwapUint64(v.w64(), toBits(x)))
	}
	for {
		old := atomic.LoadUint32(v.w32())
		if atomic.CompareAndSwapUint32(v.w32(), old, merge32(old, x)) {
			return fromBits[T](uint64(old))
		}
	}
}

// CompareAndSwap atomically stores new if the value is old, and reports
// whether it did. Floats are compared by bit pattern.
func (v *Value[T]) CompareAndSwap(old, new T) bool {
	if v.wide {
		return atomic.CompareAndSwapUint64(v.w64(), toBits(old), toBits(new))
	}
	for {
		w := atomic.LoadUint32(v.w32())
		if merge32(w, old) != w {
			return false
		}
		if atomic.CompareAndSwapUint32(v.w32(), w, merge32(w, new)) {
			return true
		}
	}
}

// Mutex returns the Value's robust lock, for compound updates that must not
// interleave with other processes'. It lives in the segment, so every
// process that opens the Value shares it.
func (v *Value[T]) Mutex() *lock.Mutex { return v.mu }

// Name returns the segment's name.
func (v *Value[T]) Name() string { return v.seg.Name() }

// Path returns the segment's file path.
func (v *Value[T]) Path() string { return v.seg.Path() }

// Segment returns the underlying segment.
func (v *Value[T]) Segment() *shm.Segment { return v.seg }

// Close unmaps the Value in this process; the segment stays until Unlink.
// Closing a Value decoded from a gob stream does nothing.
func (v *Value[T]) Close() error {
	if v.attached {
		return nil
	}
	return v.seg.Close()
}

// Unlink removes the segment's name.
func (v *Value[T]) Unlink() error { return v.seg.Unlink() }
