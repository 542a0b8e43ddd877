package array_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
)

func TestTwoProcessesShareOneArray(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("shared", 10_000, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()

	// The child writes, the parent sees it through its own mapping.
	testproc.Run(t, "fill", "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=shared")
	for i, x := range a.Data() {
		require.Equal(t, float64(i)*3, x, "element %d", i)
	}
	// The parent writes, the child sees it.
	for i := range a.Data() {
		a.Data()[i] = float64(i) + 0.5
	}
	require.Equal(t, "ok 10000\n", testproc.Run(t, "check", "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=shared"))
}

func TestLockedIncrementsAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[int64]("counter", 1, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	testproc.RunN(t, 2, "locked-inc", "SHMPAR_TEST_DIR="+dir, "SHMPAR_TEST_NAME=counter")
	require.Equal(t, int64(200_000), a.Data()[0])
}

func TestShapeAndAccessors(t *testing.T) {
	dir := t.TempDir()
	a, err := array.CreateShape[int32]("grid", []int{3, 4, 5}, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	require.Equal(t, []int{3, 4, 5}, a.Shape())
	require.Equal(t, 60, a.Len())
	require.Len(t, a.Data(), 60)
	require.Equal(t, "grid", a.Name())
	require.Equal(t, filepath.Join(dir, "grid"), a.Path())
	a.Shape()[0] = 99 // a copy
	require.Equal(t, []int{3, 4, 5}, a.Shape())

	b, err := array.Open[int32]("grid", shm.Dir(dir))
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, []int{3, 4, 5}, b.Shape())
	a.Data()[59] = 7
	require.Equal(t, int32(7), b.Data()[59])
}

type celsius float64

func TestNamedElementType(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[celsius]("temps", 4, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	a.Data()[2] = 21.5
	b, err := array.Open[float64]("temps", shm.Dir(dir)) // same dtype
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, 21.5, b.Data()[2])
}

func TestAllElementTypes(t *testing.T) {
	dir := t.TempDir()
	check := func(name string, err error) {
		t.Helper()
		require.NoError(t, err, name)
	}
	i8, err := array.Create[int8]("i8", 3, shm.Dir(dir))
	check("int8", err)
	i8.Data()[1] = -5
	i8.Close()
	u64, err := array.Create[uint64]("u64", 3, shm.Dir(dir))
	check("uint64", err)
	u64.Data()[2] = 1 << 63
	u64.Close()
	c128, err := array.Create[complex128]("c128", 3, shm.Dir(dir))
	check("complex128", err)
	c128.Data()[0] = 1 + 2i
	c128.Close()

	r8, err := array.Open[int8]("i8", shm.Dir(dir))
	check("int8", err)
	require.Equal(t, []int8{0, -5, 0}, r8.Data())
	r8.Close()
	r64, err := array.Open[uint64]("u64", shm.Dir(dir))
	check("uint64", err)
	require.Equal(t, uint64(1<<63), r64.Data()[2])
	r64.Close()
	rc, err := array.Open[complex128]("c128", shm.Dir(dir))
	check("complex128", err)
	require.Equal(t, 1+2i, rc.Data()[0])
	rc.Close()
}

func TestWrongElementTypeNamesBoth(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("f", 8, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	_, err = array.Open[int32]("f", shm.Dir(dir))
	require.ErrorIs(t, err, array.ErrType)
	require.Contains(t, err.Error(), "float64")
	require.Contains(t, err.Error(), "int32")
}

func TestBadShapes(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]int{nil, {}, {0}, {-1}, {4, 0}, {3, -2}} {
		_, err := array.CreateShape[float64]("x", shape, shm.Dir(dir))
		require.ErrorIs(t, err, array.ErrShape, "shape %v", shape)
	}
	_, err := array.Create[float64]("x", -5, shm.Dir(dir))
	require.ErrorIs(t, err, array.ErrShape)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused create must leave no file")
}

func TestSizeOverflow(t *testing.T) {
	dir := t.TempDir()
	_, err := array.CreateShape[float64]("huge", []int{1 << 40, 1 << 40}, shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrTooLarge)
	_, err = array.Create[complex128]("huge", 1<<62, shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrTooLarge)
}

func TestExistingAndMissing(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("x", 8, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	_, err = array.Create[float64]("x", 8, shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrExist)
	_, err = array.Open[float64]("nope", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)
	for _, bad := range []string{"../x", "a/b", "", ".", "..", strings.Repeat("n", 201)} {
		_, err := array.Create[float64](bad, 8, shm.Dir(dir))
		require.ErrorIs(t, err, shm.ErrBadName, "name %q", bad)
	}
}

func TestUnlinkKeepsMappingsValid(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("x", 8, shm.Dir(dir))
	require.NoError(t, err)
	b, err := array.Open[float64]("x", shm.Dir(dir))
	require.NoError(t, err)
	require.NoError(t, a.Unlink())
	_, err = array.Open[float64]("x", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)
	a.Data()[3] = 42
	require.Equal(t, 42.0, b.Data()[3], "both mappings still share the pages")
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func TestOpenValueAsArrayIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := shm.Create("v", shm.Meta{DType: shm.Float64, Kind: shm.KindValue}, shm.Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	_, err = array.Open[float64]("v", shm.Dir(dir))
	require.ErrorIs(t, err, array.ErrType)
}

type kernelArgs struct {
	X     *array.Array[float64]
	Scale float64
}

func TestGobCrossesAsReference(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("x", 1000, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(kernelArgs{X: a, Scale: 2}))
	require.Less(t, buf.Len(), 300, "an encoded Array must be a reference, not its elements")

	var got kernelArgs
	require.NoError(t, gob.NewDecoder(&buf).Decode(&got))
	require.Equal(t, 2.0, got.Scale)
	require.Equal(t, 1000, got.X.Len())
	got.X.Data()[7] = 11
	require.Equal(t, 11.0, a.Data()[7], "the decoded Array maps the same pages")
	require.NoError(t, got.X.Close()) // a no-op on the shared mapping
	require.Equal(t, 11.0, got.X.Data()[7])

	// Decoding as another element type is refused.
	buf.Reset()
	require.NoError(t, gob.NewEncoder(&buf).Encode(kernelArgs{X: a}))
	var wrong struct{ X *array.Array[int64] }
	err = gob.NewDecoder(&buf).Decode(&wrong)
	require.ErrorIs(t, err, array.ErrType)

	var junk array.Array[float64]
	require.Error(t, junk.GobDecode([]byte("not a reference")))
}

// TestErrorTexts pins what the errors say: the operation and the array once
// (shm's own errors already name the operation and the file), never a
// package name.
func TestErrorTexts(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[float64]("f", 8, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	path := filepath.Join(dir, "f")
	cases := []struct {
		err  error
		want string
	}{
		{second(array.Open[int32]("f", shm.Dir(dir))), "open array f: element type mismatch: " + path + " holds float64, not int32 (int32)"},
		{second(array.Create[float64]("f", 8, shm.Dir(dir))), "create segment " + path + ": segment already exists (file exists)"},
		{second(array.CreateShape[float64]("g", []int{4, 0}, shm.Dir(dir))), "create array g: invalid shape: dimension 1 is 0; every dimension must be positive"},
		{second(array.Open[float64]("missing", shm.Dir(dir))), "open segment " + filepath.Join(dir, "missing") + ": segment does not exist (no such file or directory)"},
		{new(array.Array[float64]).GobDecode([]byte("junk")), `decode array: decode segment reference: invalid segment metadata: no "shmpar-ref/1" magic`},
	}
	for _, c := range cases {
		require.EqualError(t, c.err, c.want)
		require.NotRegexp(t, `(^|: )(array|shm): `, c.err.Error(), "a package prefix")
	}
}

func second[T any](_ T, err error) error { return err }

// TestIntElements: int, admitted by shm.Element, is stored as the
// fixed-size integer of its width, so a fixed-size view opens the same array.
func TestIntElements(t *testing.T) {
	dir := t.TempDir()
	a, err := array.Create[int]("ints", 3, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	copy(a.Data(), []int{-1, 0, 1 << 40})
	b, err := array.Open[int64]("ints", shm.Dir(dir))
	require.NoError(t, err)
	defer b.Close()
	require.Equal(t, []int64{-1, 0, 1 << 40}, b.Data())
}

// TestForeignNeedsOptIn checks that array.Open passes shm options through:
// another user's segment is refused unless the caller allows foreign files,
// and an array opened that way still crosses to another process by
// reference (the reference carries the opt-in).
func TestForeignNeedsOptIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to chown a file to another user (running as uid %d)", os.Geteuid())
	}
	dir := t.TempDir()
	a, err := array.Create[float64]("theirs", 100, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, os.Chown(a.Path(), 65534, 65534))

	_, err = array.Open[float64]("theirs", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrForeign)
	require.ErrorContains(t, err, "owned by uid 65534")
	o, err := array.Open[float64]("theirs", shm.Dir(dir), shm.AllowForeign())
	require.NoError(t, err)
	defer o.Close()

	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(o))
	c := testproc.Spawn(t, "decode-fill", testproc.Env("SHMPAR_TEST_GOB="+base64.StdEncoding.EncodeToString(buf.Bytes())))
	c.Expect(t, "ok")
	c.WaitOK(t)
	for i, x := range a.Data() {
		require.Equal(t, float64(i)*7, x, "element %d", i)
	}
	// The creator's own array does not carry the opt-in: a process that
	// decodes it refuses the now foreign file.
	buf.Reset()
	require.NoError(t, gob.NewEncoder(&buf).Encode(a))
	c = testproc.Spawn(t, "decode-fill", testproc.Env("SHMPAR_TEST_GOB="+base64.StdEncoding.EncodeToString(buf.Bytes())))
	_, err = c.Wait()
	require.Error(t, err)
	require.Contains(t, c.Stderr(), "foreign segment")
}
