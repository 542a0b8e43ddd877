package main

import (
	"fmt"
	"io"
	"math"
	"math/cmplx"
	"strconv"

	"github.com/shmpar/shmpar/shm"
)

// printStats prints count, min, max, mean and sum of the segment's elements
// and the first head of them.
func printStats(out io.Writer, seg *shm.Segment, head int) error {
	switch seg.Meta().DType {
	case shm.Int8:
		return realStats[int8](out, seg, head)
	case shm.Int16:
		return realStats[int16](out, seg, head)
	case shm.Int32:
		return realStats[int32](out, seg, head)
	case shm.Int64:
		return realStats[int64](out, seg, head)
	case shm.Uint8:
		return realStats[uint8](out, seg, head)
	case shm.Uint16:
		return realStats[uint16](out, seg, head)
	case shm.Uint32:
		return realStats[uint32](out, seg, head)
	case shm.Uint64:
		return realStats[uint64](out, seg, head)
	case shm.Float32:
		return realStats[float32](out, seg, head)
	case shm.Float64:
		return realStats[float64](out, seg, head)
	case shm.Complex64:
		return complexStats[complex64](out, seg, head)
	case shm.Complex128:
		return complexStats[complex128](out, seg, head)
	}
	return fmt.Errorf("inspect: %s: no statistics for dtype %s", seg.Path(), seg.Meta().DType)
}

func realStats[T shm.Number](out io.Writer, seg *shm.Segment, head int) error {
	x, err := shm.View[T](seg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "count:      %d\n", len(x))
	if len(x) > 0 {
		lo, hi := x[0], x[0]
		var sum float64 // float64 sums every kind without overflow, at the cost of exactness past 2^53
		nan := 0
		for _, v := range x {
			f := float64(v)
			if math.IsNaN(f) {
				nan++
				continue
			}
			if v < lo || math.IsNaN(float64(lo)) {
				lo = v
			}
			if v > hi || math.IsNaN(float64(hi)) {
				hi = v
			}
			sum += f
		}
		fmt.Fprintf(out, "min:        %v\n", lo)
		fmt.Fprintf(out, "max:        %v\n", hi)
		if n := len(x) - nan; n > 0 {
			fmt.Fprintf(out, "mean:       %v\n", sum/float64(n))
		}
		fmt.Fprintf(out, "sum:        %v\n", sum)
		if nan > 0 {
			fmt.Fprintf(out, "nan:        %d (left out of min, max, mean and sum)\n", nan)
		}
	}
	fmt.Fprintf(out, "head:       %v\n", x[:min(head, len(x))])
	return nil
}

func complexStats[T ~complex64 | ~complex128](out io.Writer, seg *shm.Segment, head int) error {
	x, err := shm.View[T](seg)
	if err != nil {
		return err
	}
	var sum complex128
	for _, v := range x {
		sum += complex128(v)
	}
	fmt.Fprintf(out, "count:      %d\n", len(x))
	if len(x) > 0 {
		fmt.Fprintf(out, "mean:       %v\n", sum/complex(float64(len(x)), 0))
		fmt.Fprintf(out, "sum:        %v\n", sum)
		fmt.Fprintf(out, "|sum|:      %v\n", cmplx.Abs(sum))
	}
	fmt.Fprintf(out, "head:       %v\n", x[:min(head, len(x))])
	return nil
}

// fillSegment sets every element to the value s, parsed for the dtype.
func fillSegment(seg *shm.Segment, s string) error {
	switch seg.Meta().DType {
	case shm.Int8:
		return fillInt[int8](seg, s, 8)
	case shm.Int16:
		return fillInt[int16](seg, s, 16)
	case shm.Int32:
		return fillInt[int32](seg, s, 32)
	case shm.Int64:
		return fillInt[int64](seg, s, 64)
	case shm.Uint8:
		return fillUint[uint8](seg, s, 8)
	case shm.Uint16:
		return fillUint[uint16](seg, s, 16)
	case shm.Uint32:
		return fillUint[uint32](seg, s, 32)
	case shm.Uint64:
		return fillUint[uint64](seg, s, 64)
	case shm.Float32:
		return fillFloat[float32](seg, s, 32)
	case shm.Float64:
		return fillFloat[float64](seg, s, 64)
	case shm.Complex64:
		return fillComplex[complex64](seg, s, 64)
	case shm.Complex128:
		return fillComplex[complex128](seg, s, 128)
	}
	return fmt.Errorf("cannot fill dtype %s", seg.Meta().DType)
}

func fillWith[T shm.Element](seg *shm.Segment, v T) error {
	x, err := shm.View[T](seg)
	if err != nil {
		return err
	}
	for i := range x {
		x[i] = v
	}
	return nil
}

func fillInt[T ~int8 | ~int16 | ~int32 | ~int64](seg *shm.Segment, s string, bits int) error {
	v, err := strconv.ParseInt(s, 0, bits)
	if err != nil {
		return fmt.Errorf("%q is not an int%d", s, bits)
	}
	return fillWith(seg, T(v))
}

func fillUint[T ~uint8 | ~uint16 | ~uint32 | ~uint64](seg *shm.Segment, s string, bits int) error {
	v, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		return fmt.Errorf("%q is not a uint%d", s, bits)
	}
	return fillWith(seg, T(v))
}

func fillFloat[T ~float32 | ~float64](seg *shm.Segment, s string, bits int) error {
	v, err := strconv.ParseFloat(s, bits)
	if err != nil {
		return fmt.Errorf("%q is not a float%d", s, bits)
	}
	return fillWith(seg, T(v))
}

func fillComplex[T ~complex64 | ~complex128](seg *shm.Segment, s string, bits int) error {
	v, err := strconv.ParseComplex(s, bits)
	if err != nil {
		return fmt.Errorf("%q is not a complex%d", s, bits)
	}
	return fillWith(seg, T(v))
}
