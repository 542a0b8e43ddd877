package shm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRefRoundTripAndAttach(t *testing.T) {
	t.Cleanup(releaseAll)
	dir := t.TempDir()
	s, err := Create("r", Meta{DType: Float32, Shape: []int{6}, Kind: KindArray}, Dir(dir))
	require.NoError(t, err)
	defer s.Close()

	b, err := RefOf(s).MarshalBinary()
	require.NoError(t, err)
	var r Ref
	require.NoError(t, r.UnmarshalBinary(b))
	require.Equal(t, KindArray, r.Kind)
	require.Equal(t, Float32, r.DType)
	require.Equal(t, s.Path(), r.Path)
	require.Equal(t, s.Meta().CreatorPID, r.ID.PID)
	require.NotZero(t, r.ID.Created)

	a, err := AttachRef(b, KindArray, Float32)
	require.NoError(t, err)
	a2, err := AttachRef(b, KindArray, Float32)
	require.NoError(t, err)
	require.Same(t, a, a2, "attached once per process")
	x, err := View[float32](a)
	require.NoError(t, err)
	y, err := View[float32](s)
	require.NoError(t, err)
	y[5] = 2.5
	require.Equal(t, float32(2.5), x[5], "the attached mapping shares the pages")

	_, err = AttachRef(b, KindArray, Float64)
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "float32")
	require.Contains(t, err.Error(), "float64")
	_, err = AttachRef(b, KindValue, Float32)
	require.ErrorIs(t, err, ErrInvalid)
}

func TestRefOfReplacedSegmentIsNotTheOld(t *testing.T) {
	t.Cleanup(releaseAll)
	dir := t.TempDir()
	meta := Meta{DType: Float64, Shape: []int{4}, Kind: KindArray}
	a, err := Create("x", meta, Dir(dir))
	require.NoError(t, err)
	oldRef, err := RefOf(a).MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, a.Unlink())
	require.NoError(t, a.Close())
	b, err := Create("x", meta, Dir(dir)) // same path, another segment
	require.NoError(t, err)
	defer b.Close()
	newRef, err := RefOf(b).MarshalBinary()
	require.NoError(t, err)
	require.NotEqual(t, string(oldRef), string(newRef), "references to different segments must differ")
	_, err = AttachRef(oldRef, KindArray, Float64)
	require.ErrorIs(t, err, ErrNotExist, "the old reference must not attach to the new segment")
	got, err := AttachRef(newRef, KindArray, Float64)
	require.NoError(t, err)
	require.Equal(t, b.Meta().Created, got.Meta().Created)
}

func TestRefRejectsForeignBytes(t *testing.T) {
	for _, b := range []string{
		"", "shmpar-ref/1", "shmpar-ref/1 array float64 1.2.3", "shmpar-ref/2 array float64 1.2.3 /x",
		"shmpar-ref/1 banana float64 1.2.3 /x", "shmpar-ref/1 array float128 1.2.3 /x",
		"shmpar-ref/1 array float64 1.2.3 relative/path", "shmpar-ref/1 array <f8 1.2.3 /x",
		"shmpar-ref/1 array float64 1.2.3 /a\x00b", "shmpar-ref/1 array float64 1.2 /x",
		"shmpar-ref/1 array float64 01.2.3 /x", "shmpar-ref/1 array float64 1.2.x /x",
		"shmpar-ref/1 array float64 1.2.3 foreign relative", "shmpar-ref/1 array float64 1.2.3 foreign foreign /x",
		"shmpar-ref/1 array float64 1.2.3 foreign ",
	} {
		var r Ref
		require.ErrorIs(t, r.UnmarshalBinary([]byte(b)), ErrInvalid, "%q", b)
	}
	_, err := Ref{Kind: KindArray, DType: Invalid, Path: "/x"}.MarshalBinary()
	require.ErrorIs(t, err, ErrInvalid)
}

func TestViewChecksType(t *testing.T) {
	s, err := Create("v", Meta{DType: Int16, Shape: []int{3}, Kind: KindArray}, Dir(t.TempDir()))
	require.NoError(t, err)
	defer s.Close()
	x, err := View[int16](s)
	require.NoError(t, err)
	require.Len(t, x, 3)
	_, err = View[uint16](s)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = View[string](s)
	require.ErrorIs(t, err, ErrInvalid)
}

// FuzzRef checks that decoding never panics and that whatever decodes
// encodes back to the same bytes.
func FuzzRef(f *testing.F) {
	f.Add([]byte("shmpar-ref/1 array float64 4242.987654.1763764000123456789 /dev/shm/grid"))
	f.Add([]byte("shmpar-ref/1 value int8 12.5.0 /proc/12/fd/7"))
	f.Add([]byte("shmpar-ref/1 queue uint8 1.1.-5 /tmp/a b"))
	f.Add([]byte("shmpar-ref/1 array float64 1.2.3 foreign /dev/shm/shared"))
	f.Add([]byte("shmpar-ref/1 array float64 1.2.3 foreign foreign /x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Ref
		if r.UnmarshalBinary(b) != nil {
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %q to %+v, which does not encode: %v", b, r, err)
		}
		if string(again) != string(b) {
			t.Fatalf("round trip changed %q to %q", b, again)
		}
		if r.Foreign != strings.HasPrefix(strings.SplitN(string(b), " ", 5)[4], foreignMark) {
			t.Fatalf("%q decoded with Foreign %v", b, r.Foreign)
		}
	})
}
