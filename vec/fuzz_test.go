package vec_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/shmpar/shmpar/vec"
)

// The fuzz targets run every assembly implementation of an operation
// against the pure-Go one, bit for bit (NaN payloads aside), on inputs made
// of raw bits (so NaN, ±Inf, ±0 and subnormals come up), at any length and
// destination offset, with plain and with streaming stores, with guards
// around the destination, and in place where the operation allows it. Each
// target checks float64 and float32 on the same bytes.
//
//	go test -run '^$' -fuzz '^FuzzAddScaled$' -fuzztime 1m ./vec

// decode cuts data into nin slices of T, the bytes taken as the values'
// bits.
func decode[T vec.Float](data []byte, nin int) [][]T {
	size := 128 / vec.Lanes[T]()
	n := 0
	if nin > 0 {
		n = len(data) / size / nin
	}
	in := make([][]T, nin)
	for k := range in {
		in[k] = make([]T, n)
		for i := range in[k] {
			b := data[(k*n+i)*size:]
			if size == 8 {
				in[k][i] = fromBits[T](binary.LittleEndian.Uint64(b))
			} else {
				in[k][i] = fromBits[T](uint64(binary.LittleEndian.Uint32(b)))
			}
		}
	}
	return in
}

// seeds adds inputs of special values at lengths around the vector sizes.
func seeds(f *testing.F) {
	var sp []byte
	for _, v := range specials[float64]() {
		sp = binary.LittleEndian.AppendUint64(sp, math.Float64bits(v))
	}
	for _, v := range specials[float32]() {
		sp = binary.LittleEndian.AppendUint32(sp, math.Float32bits(v))
	}
	for _, n := range []int{0, 1, 7, 8, 9, 31, 33, 64, 100, 300, 1000} {
		data := make([]byte, 0, 8*n)
		for i := range n {
			switch i % 3 {
			case 0:
				data = append(data, sp[(8*i)%len(sp):][:8]...)
			default:
				data = binary.LittleEndian.AppendUint64(data, math.Float64bits(float64(i)*1.25-40))
			}
		}
		f.Add(data, uint8(n), math.Float64bits(3.9))
	}
	f.Add([]byte{}, uint8(0), uint64(0))
}

func find[T vec.Float](name string) ewOp[T] {
	for _, op := range ewOps[T]() {
		if op.name == name {
			return op
		}
	}
	panic("no operation " + name)
}

func findRed[T vec.Float](name string) redOp[T] {
	for _, op := range redOps[T]() {
		if op.name == name {
			return op
		}
	}
	panic("no reduction " + name)
}

// fuzzElementwise is the body of an element-wise operation's target.
func fuzzElementwise(f *testing.F, name string) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte, off uint8, s uint64) {
		checkElementwise(t, find[float64](name), data, off, s)
		checkElementwise(t, find[float32](name), data, off, s)
	})
}

func checkElementwise[T vec.Float](t *testing.T, op ewOp[T], data []byte, off8 uint8, sbits uint64) {
	in := decode[T](data, max(op.nin, 1))[:op.nin]
	n := len(data) / (128 / vec.Lanes[T]()) / max(op.nin, 1)
	off := int(off8) % offsets[T]()
	s := fromBits[T](sbits)

	restore := vec.UseImpl("go")
	want := make([]T, n)
	op.run(want, in, s)
	restore()

	for _, impl := range vec.Impls() {
		if impl == "go" {
			continue
		}
		func() {
			defer vec.UseImpl(impl)()
			streaming(func(nt bool) {
				buf, dst := guarded[T](n, off)
				op.run(dst, in, s)
				checkGuards(t, op.name+"/"+impl, buf, off, n)
				compareTo(t, op.name, impl, nt, "", dst, want)
				if op.alias {
					dst := append([]T(nil), in[0]...)
					args := append([][]T{dst}, in[1:]...)
					op.run(dst, args, s)
					compareTo(t, op.name, impl, nt, " in place", dst, want)
				}
			})
		}()
	}
}

func compareTo[T vec.Float](t *testing.T, op, impl string, nt bool, how string, got, want []T) {
	t.Helper()
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("%s %s%s n=%d nt=%v: dst[%d] = %v (%#x), pure Go %v (%#x)",
				op, impl, how, len(want), nt, i, got[i], bits(got[i]), want[i], bits(want[i]))
		}
	}
}

// fuzzReduction is the body of a reduction's target.
func fuzzReduction(f *testing.F, name string) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte, off uint8, _ uint64) {
		checkReduction(t, findRed[float64](name), data, off)
		checkReduction(t, findRed[float32](name), data, off)
	})
}

func checkReduction[T vec.Float](t *testing.T, op redOp[T], data []byte, off8 uint8) {
	raw := decode[T](data, op.nin)
	off := int(off8) % offsets[T]()
	in := make([][]T, op.nin)
	for k := range in { // at an offset, so that the loads are misaligned
		_, in[k] = guarded[T](len(raw[k]), off)
		copy(in[k], raw[k])
	}
	restore := vec.UseImpl("go")
	want := op.run(in)
	restore()
	for _, impl := range vec.Impls() {
		if impl == "go" {
			continue
		}
		func() {
			defer vec.UseImpl(impl)()
			if got := op.run(in); !same(got, want) {
				t.Fatalf("%s %s n=%d: %v (%#x), pure Go %v (%#x)", op.name, impl, len(in[0]), got, bits(got), want, bits(want))
			}
		}()
	}
}

func FuzzFill(f *testing.F)       { fuzzElementwise(f, "Fill") }
func FuzzCopy(f *testing.F)       { fuzzElementwise(f, "Copy") }
func FuzzScale(f *testing.F)      { fuzzElementwise(f, "Scale") }
func FuzzAdd(f *testing.F)        { fuzzElementwise(f, "Add") }
func FuzzSub(f *testing.F)        { fuzzElementwise(f, "Sub") }
func FuzzMul(f *testing.F)        { fuzzElementwise(f, "Mul") }
func FuzzDiv(f *testing.F)        { fuzzElementwise(f, "Div") }
func FuzzAddScaled(f *testing.F)  { fuzzElementwise(f, "AddScaled") }
func FuzzLogistic(f *testing.F)   { fuzzElementwise(f, "Logistic") }
func FuzzJacobiRow(f *testing.F)  { fuzzElementwise(f, "JacobiRow") }
func FuzzDiffuseRow(f *testing.F) { fuzzElementwise(f, "DiffuseRow") }
func FuzzSum(f *testing.F)        { fuzzReduction(f, "Sum") }
func FuzzDot(f *testing.F)        { fuzzReduction(f, "Dot") }
func FuzzMin(f *testing.F)        { fuzzReduction(f, "Min") }
func FuzzMax(f *testing.F)        { fuzzReduction(f, "Max") }
