package value_test

import (
	"bytes"
	"encoding/gob"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

func TestTwoProcessesAddExactly(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[int64]("n", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	testproc.RunN(t, 2, "add-int", "SHMPAR_TEST_DIR="+dir)
	require.Equal(t, int64(2_000_000), v.Load())
}

func TestFloatAddAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[float64]("f", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	testproc.RunN(t, 2, "add-float", "SHMPAR_TEST_DIR="+dir)
	require.Equal(t, 100_000.0, v.Load())
}

func TestNarrowAddAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[uint16]("h", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	testproc.RunN(t, 2, "add-int16", "SHMPAR_TEST_DIR="+dir)
	require.Equal(t, uint16(60_000), v.Load())
}

func TestMutexMakesCompoundUpdatesExact(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[int64]("m", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	testproc.RunN(t, 2, "locked", "SHMPAR_TEST_DIR="+dir)
	require.Equal(t, int64(200_000), v.Load())
}

func TestStoreSeenByOtherProcess(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[float64]("s", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	v.Store(1.25)
	require.Equal(t, "1.25\n", testproc.Run(t, "store", "SHMPAR_TEST_DIR="+dir))
	require.Equal(t, 2.75, v.Load())
}

func TestOperationsPerType(t *testing.T) {
	dir := t.TempDir()
	i8, err := value.Create[int8]("i8", shm.Dir(dir))
	require.NoError(t, err)
	defer i8.Close()
	i8.Store(127)
	require.Equal(t, int8(-128), i8.Add(1), "int8 wraps as in Go")
	require.Equal(t, int8(-128), i8.Swap(5))
	require.False(t, i8.CompareAndSwap(4, 9))
	require.True(t, i8.CompareAndSwap(5, -9))
	require.Equal(t, int8(-9), i8.Load())

	u32, err := value.Create[uint32]("u32", shm.Dir(dir))
	require.NoError(t, err)
	defer u32.Close()
	require.Equal(t, uint32(math.MaxUint32), u32.Add(math.MaxUint32))
	require.Equal(t, uint32(0), u32.Add(1))

	i64, err := value.Create[int64]("i64", shm.Dir(dir))
	require.NoError(t, err)
	defer i64.Close()
	require.Equal(t, int64(-3), i64.Add(-3))
	require.True(t, i64.CompareAndSwap(-3, 1<<62))
	require.Equal(t, int64(1<<62), i64.Load())

	f32, err := value.Create[float32]("f32", shm.Dir(dir))
	require.NoError(t, err)
	defer f32.Close()
	require.Equal(t, float32(1.5), f32.Add(1.5))
	require.Equal(t, float32(1.5), f32.Swap(-2))
	require.Equal(t, float32(-2), f32.Load())

	f64, err := value.Create[float64]("f64", shm.Dir(dir))
	require.NoError(t, err)
	defer f64.Close()
	f64.Store(math.NaN())
	require.True(t, f64.CompareAndSwap(math.NaN(), 1), "floats compare by bit pattern")
	require.False(t, f64.CompareAndSwap(math.Copysign(0, -1), 2))
	require.Equal(t, 1.0, f64.Load())
}

func TestOpenChecksTypeAndKind(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[float64]("v", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	_, err = value.Open[int64]("v", shm.Dir(dir))
	require.ErrorIs(t, err, value.ErrType)
	require.Contains(t, err.Error(), "float64")
	require.Contains(t, err.Error(), "int64")

	s, err := shm.Create("arr", shm.Meta{DType: shm.Float64, Shape: []int{4}, Kind: shm.KindArray}, shm.Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	_, err = value.Open[float64]("arr", shm.Dir(dir))
	require.ErrorIs(t, err, value.ErrType)

	_, err = value.Open[float64]("missing", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)
	_, err = value.Create[float64]("v", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrExist)
	_, err = value.Create[float64]("../v", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrBadName)
}

func TestGobCrossesAsReference(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[int64]("v", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(struct{ V *value.Value[int64] }{v}))
	var got struct{ V *value.Value[int64] }
	require.NoError(t, gob.NewDecoder(&buf).Decode(&got))
	got.V.Add(41)
	require.Equal(t, int64(41), v.Load())
}

func TestAnonymous(t *testing.T) {
	v, err := value.CreateAnon[int32]()
	require.NoError(t, err)
	defer v.Close()
	v.Add(3)
	require.Equal(t, int32(3), v.Load())
	require.Contains(t, v.Path(), "/proc/")
}

// TestErrorTexts pins what the errors say: the operation and the value once
// (shm's own errors already name the operation and the file), never a
// package name.
func TestErrorTexts(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[float64]("v", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	path := filepath.Join(dir, "v")
	cases := []struct {
		err  error
		want string
	}{
		{second(value.Open[int64]("v", shm.Dir(dir))), "open value v: type mismatch: " + path + " holds float64, not int64 (int64)"},
		{second(value.Create[float64]("v", shm.Dir(dir))), "create segment " + path + ": segment already exists (file exists)"},
		{new(value.Value[float64]).GobDecode([]byte("junk")), `decode value: decode segment reference: invalid segment metadata: no "shmpar-ref/1" magic`},
	}
	for _, c := range cases {
		require.EqualError(t, c.err, c.want)
		require.NotRegexp(t, `(^|: )(value|shm): `, c.err.Error(), "a package prefix")
	}
}

func second[T any](_ T, err error) error { return err }

// TestIntAndUint: int and uint, admitted by shm.Number, are stored as the
// fixed-size integers of their width and have the same atomic operations.
func TestIntAndUint(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[int]("i", shm.Dir(dir))
	require.NoError(t, err)
	defer v.Close()
	v.Store(-5)
	require.Equal(t, -3, v.Add(2))
	require.True(t, v.CompareAndSwap(-3, 40))
	require.Equal(t, 40, v.Swap(41))
	require.Equal(t, shm.DTypeFor[int](), v.Segment().Meta().DType)

	u, err := value.Create[uint]("u", shm.Dir(dir))
	require.NoError(t, err)
	defer u.Close()
	require.Equal(t, uint(7), u.Add(7))
}

// TestForeignNeedsOptIn checks that value.Open passes shm options through:
// a Value writable by others is refused unless the caller allows it.
func TestForeignNeedsOptIn(t *testing.T) {
	dir := t.TempDir()
	v, err := value.Create[int64]("open", shm.Dir(dir), shm.Mode(0o666))
	require.NoError(t, err)
	defer v.Close()
	c := testproc.Spawn(t, "add-foreign", testproc.Env("SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=open"))
	_, err = c.Wait()
	require.Error(t, err)
	require.Contains(t, c.Stderr(), "foreign segment: mode 0666 lets group and others write it")
	require.Zero(t, v.Load())
	testproc.Run(t, "add-foreign", "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=open", "SHMPAR_TEST_ALLOW=1")
	require.Equal(t, int64(1), v.Load())
}
