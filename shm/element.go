package shm

// Number is the set of real numeric types a segment can hold: the signed
// and unsigned integers and the floats, named types among them (type
// Celsius float64 is a Number). int and uint are stored as int64 and uint64
// (int32 and uint32 on 32-bit platforms); see DTypeFor. This is the one
// definition of the numeric constraint: value.Number is this type, and the
// engine's reductions use it too.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// Element is every type a segment can hold as its elements: a Number or a
// complex number. All are pointer-free (a pointer in shared memory means
// nothing in another process) and each has a DType (DTypeFor). array.Element
// is this type.
type Element interface {
	Number | ~complex64 | ~complex128
}
