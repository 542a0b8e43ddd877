//go:build linux

package shm

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/internal/proc"
)

var f64 = Meta{DType: Float64, Shape: []int{1000, 10}, Kind: KindArray}

// newSeg creates a segment in a fresh temporary directory and closes it at
// the end of the test.
func newSeg(t *testing.T, name string, m Meta, opts ...Option) (*Segment, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Create(name, m, append([]Option{Dir(dir)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateOpen(t *testing.T) {
	s, dir := newSeg(t, "grid", f64)
	path := filepath.Join(dir, "grid")
	require.Equal(t, "grid", s.Name())
	require.Equal(t, path, s.Path())

	m := s.Meta()
	self := proc.Self()
	require.Equal(t, Float64, m.DType)
	require.Equal(t, []int{1000, 10}, m.Shape)
	require.Equal(t, KindArray, m.Kind)
	require.Equal(t, self.PID, m.CreatorPID)
	require.Equal(t, self.Start, m.CreatorStart)
	require.False(t, m.Created.IsZero())
	require.False(t, m.Created.After(time.Now()))
	require.Equal(t, 10000, m.Len())
	require.EqualValues(t, 80000, m.DataBytes())

	data := s.Data()
	require.Len(t, data, 80000)
	require.Equal(t, len(data), cap(data))
	require.Zero(t, uintptr(unsafe.Pointer(&data[0]))%4096, "data must be page aligned")
	locks := s.Locks()
	require.Len(t, locks, LockAreaSize)
	require.Equal(t, LockAreaSize, cap(locks))
	require.Zero(t, uintptr(unsafe.Pointer(&locks[0]))%64, "lock area must be 64-byte aligned")
	require.Equal(t, make([]byte, LockAreaSize), locks)
	require.Equal(t, make([]byte, len(data)), data)

	fillPattern(data, 3)
	locks[0] = 7
	require.NotNil(t, s.File())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.EqualValues(t, DataOffset+81920+TrailerSize, fi.Size())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	o, err := Open("grid", Dir(dir))
	require.NoError(t, err)
	defer o.Close()
	require.Equal(t, m, o.Meta())
	require.NoError(t, checkPattern(o.Data(), 3))
	require.Equal(t, byte(7), o.Locks()[0])
	// Both mappings are the same memory.
	o.Data()[5] = 99
	require.Equal(t, byte(99), data[5])
}

func TestZeroDAndEmpty(t *testing.T) {
	for _, c := range []struct {
		shape []int
		len   int
		size  int64
	}{
		{nil, 1, 3 * 4096},
		{[]int{}, 1, 3 * 4096},
		{[]int{0}, 0, 2 * 4096},
		{[]int{3, 0, 5}, 0, 2 * 4096},
		{[]int{1 << 45, 0}, 0, 2 * 4096},
		{[]int{512}, 512, 3 * 4096},
		{[]int{513}, 513, 4 * 4096},
	} {
		s, dir := newSeg(t, "x", Meta{DType: Float64, Shape: c.shape, Kind: KindValue})
		require.Equal(t, c.len, s.Meta().Len(), "%v", c.shape)
		require.Len(t, s.Data(), c.len*8)
		require.Len(t, s.Locks(), LockAreaSize)
		fi, err := os.Stat(s.Path())
		require.NoError(t, err)
		require.Equal(t, c.size, fi.Size(), "%v", c.shape)
		o, err := Open("x", Dir(dir))
		require.NoError(t, err)
		if len(c.shape) == 0 {
			require.Nil(t, o.Meta().Shape)
		} else {
			require.Equal(t, c.shape, o.Meta().Shape)
		}
		require.NoError(t, o.Close())
	}
}

func TestNumpyHeaderBytes(t *testing.T) {
	s, _ := newSeg(t, "h", f64)
	b, err := os.ReadFile(s.Path())
	require.NoError(t, err)
	want := "\x93NUMPY\x01\x00\xf6\x0f{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 10), }"
	require.Equal(t, want, string(b[:len(want)]))
	require.Equal(t, strings.Repeat(" ", DataOffset-1-len(want)), string(b[len(want):DataOffset-1]))
	require.Equal(t, byte('\n'), b[DataOffset-1])
}

func TestCloseIdempotent(t *testing.T) {
	s, _ := newSeg(t, "c", f64)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	require.Nil(t, s.Data())
	require.Nil(t, s.Locks())
	var nilSeg *Segment
	require.NoError(t, nilSeg.Close())
}

func TestBadNames(t *testing.T) {
	dir := t.TempDir()
	bad := []string{"../x", "a/b", "", ".", "..", "a\x00b", strings.Repeat("n", 201), "/etc/passwd",
		"two\nlines", "tab\there", "cr\r", "esc\x1b[31m", "del\x7f", "c1\u0085", "nbsp\u00a0", "ls\u2028",
		"rlo\u202egnp.exe", "zwj\u200d", "private\ue000", "bad\xffutf8", "\xc0\xaf"}
	for _, name := range bad {
		require.ErrorIs(t, ValidateName(name), ErrBadName, "%q", name)
		_, err := Create(name, f64, Dir(dir))
		require.ErrorIs(t, err, ErrBadName, "%q", name)
		_, err = Open(name, Dir(dir))
		require.ErrorIs(t, err, ErrBadName, "%q", name)
		require.ErrorIs(t, Unlink(name, Dir(dir)), ErrBadName, "%q", name)
		_, err = CreateAnon(name+"/", f64)
		require.ErrorIs(t, err, ErrBadName, "%q", name)
	}
	require.Empty(t, dirNames(t, dir))
	require.ErrorContains(t, ValidateName(strings.Repeat("n", 201)), "201 bytes")
	require.ErrorContains(t, ValidateName("a/b"), "'/'")
	require.EqualError(t, ValidateName("a\nb"), `invalid segment name "a\nb": contains the non-printable character U+000A at byte 1`)
	require.EqualError(t, ValidateName("x\xff"), `invalid segment name "x\xff": is not valid UTF-8`)
	for _, name := range []string{"a", strings.Repeat("n", 200), "..x", ".hidden", "with space", "ünï", "日本語", "emoji😀", "a'b\"c\\d", "-dash", "~tilde"} {
		require.NoError(t, ValidateName(name), "%q", name)
	}
}

func TestCreateExisting(t *testing.T) {
	s, dir := newSeg(t, "dup", f64)
	fillPattern(s.Data(), 5)
	for _, tmp := range []bool{true, false} {
		useTmpfile = tmp
		_, err := Create("dup", Meta{DType: Uint8, Shape: []int{1}}, Dir(dir))
		useTmpfile = true
		require.ErrorIs(t, err, ErrExist)
		require.ErrorIs(t, err, os.ErrExist)
		require.ErrorContains(t, err, filepath.Join(dir, "dup"))
	}
	o, err := Open("dup", Dir(dir))
	require.NoError(t, err)
	defer o.Close()
	require.Equal(t, f64.Shape, o.Meta().Shape)
	require.NoError(t, checkPattern(o.Data(), 5))
}

func TestCreateWithoutTmpfile(t *testing.T) {
	useTmpfile = false
	defer func() { useTmpfile = true }()
	s, dir := newSeg(t, "classic", f64)
	fillPattern(s.Data(), 1)
	o, err := Open("classic", Dir(dir))
	require.NoError(t, err)
	defer o.Close()
	require.NoError(t, checkPattern(o.Data(), 1))
	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := Open("nothing", Dir(dir))
	require.ErrorIs(t, err, ErrNotExist)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.ErrorContains(t, err, filepath.Join(dir, "nothing"))
	_, err = Open("x", Dir(filepath.Join(dir, "no-such-dir")))
	require.ErrorIs(t, err, ErrNotExist)
	require.ErrorIs(t, Unlink("nothing", Dir(dir)), ErrNotExist)
}

func TestSizeOverflow(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]int{
		{1 << 40, 1 << 40},
		{1 << 62, 4},
		{1 << 44},          // 2^47 bytes of float64: over MaxDataBytes
		{1 << 23, 1 << 23}, // exactly 2^46 elements
	} {
		_, err := Create("big", Meta{DType: Float64, Shape: shape}, Dir(dir))
		require.ErrorIs(t, err, ErrTooLarge, "%v", shape)
		_, err = CreateAnon("big", Meta{DType: Float64, Shape: shape})
		require.ErrorIs(t, err, ErrTooLarge, "%v", shape)
	}
	require.Equal(t, -1, Meta{DType: Float64, Shape: []int{1 << 40, 1 << 40}}.Len())
	require.EqualValues(t, -1, Meta{DType: Float64, Shape: []int{1 << 62, 4}}.DataBytes())
	require.Empty(t, dirNames(t, dir))
}

func TestNegativeDim(t *testing.T) {
	dir := t.TempDir()
	_, err := Create("neg", Meta{DType: Int32, Shape: []int{4, -3}}, Dir(dir))
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "negative dimension -3")
	require.Equal(t, -1, Meta{DType: Int32, Shape: []int{-1}}.Len())
	require.Empty(t, dirNames(t, dir))
}

func TestInvalidMeta(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []Meta{
		{},
		{DType: DType(200), Shape: []int{1}},
		{DType: Int8, Kind: Kind(99)},
		{DType: Int8, Flags: 1 << 7},
		{DType: Int8, Shape: []int{1, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		_, err := Create("bad", m, Dir(dir))
		require.ErrorIs(t, err, ErrInvalid, "%+v", m)
	}
	require.Empty(t, dirNames(t, dir))
}

// rewrite changes the file at path with edit.
func rewrite(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, edit(b), 0o600))
}

func TestOpenTruncated(t *testing.T) {
	s, dir := newSeg(t, "trunc", Meta{DType: Float64, Shape: []int{100000}})
	size := int64(DataOffset + 802816 + TrailerSize) // 800000 bytes padded to 196 pages
	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	require.Equal(t, size, fi.Size())
	require.NoError(t, s.Close())
	for _, n := range []int64{size - 1, size - 4096, size / 2, DataOffset + 1, DataOffset, 5000, 100, 10} {
		require.NoError(t, os.Truncate(s.Path(), n))
		_, err := Open("trunc", Dir(dir))
		require.ErrorIs(t, err, ErrTruncated, "size %d", n)
		require.ErrorContains(t, err, s.Path())
		if n >= DataOffset {
			require.ErrorContains(t, err, "file is "+itoa(int(n))+" bytes")
			require.ErrorContains(t, err, itoa(int(size)))
		}
	}
	// Too short to be recognised at all.
	require.NoError(t, os.Truncate(s.Path(), 0))
	_, err = Open("trunc", Dir(dir))
	require.ErrorIs(t, err, ErrBadMagic)
}

func TestOpenLonger(t *testing.T) {
	s, dir := newSeg(t, "long", f64)
	f, err := os.OpenFile(s.Path(), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("long", Dir(dir))
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "1 more than")
}

func TestOpenForeign(t *testing.T) {
	dir := t.TempDir()
	rnd := make([]byte, 3*4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	// An npy header exactly like shmpar's, but zeros where the trailer belongs.
	noTrailer := append(encodeHeader(Float64, []int{10}), make([]byte, 2*4096)...)
	v2 := plainNpy(10)
	v2[6] = 2
	for name, content := range map[string][]byte{
		"random":     rnd,
		"plain.npy":  plainNpy(1000),
		"text":       []byte("hello, I am a text file\n"),
		"empty":      nil,
		"npy-v2":     v2,
		"no-trailer": noTrailer,
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, content, 0o600))
		_, err := Open(name, Dir(dir))
		require.ErrorIs(t, err, ErrBadMagic, name)
		require.ErrorContains(t, err, path, name)
		// Unlink refuses to remove what is not a segment.
		require.ErrorIs(t, Unlink(name, Dir(dir)), ErrBadMagic, name)
		require.FileExists(t, path)
	}
	_, err := Open("no-trailer", Dir(dir))
	require.ErrorContains(t, err, "npy file without the shmpar trailer")
	_, err = Open("plain.npy", Dir(dir))
	require.ErrorContains(t, err, "data at offset 128")

	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	_, err = Open("sub", Dir(dir))
	require.ErrorIs(t, err, ErrBadMagic)
	// A FIFO neither blocks nor passes.
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	_, err = Open("fifo", Dir(dir))
	require.ErrorIs(t, err, ErrBadMagic)
	require.ErrorIs(t, Unlink("fifo", Dir(dir)), ErrBadMagic)
}

func TestOpenCorrupt(t *testing.T) {
	s, dir := newSeg(t, "bad", f64)
	path := s.Path()
	require.NoError(t, s.Close())
	trailer := int64(DataOffset + 81920)
	pristine, err := os.ReadFile(path)
	require.NoError(t, err)
	restore := func() { require.NoError(t, os.WriteFile(path, pristine, 0o600)) }

	// Any byte of the fixed fields is covered by the CRC.
	for _, off := range []int64{trVersion + 1, trHeaderLen, trDType, trKind, trNDim, trFlags, trShape + 3, trDataLen, trPID, trStart + 2, trCreated + 7, trCRC} {
		rewrite(t, path, func(b []byte) []byte { b[trailer+off] ^= 0x10; return b })
		_, err := Open("bad", Dir(dir))
		if off == trVersion+1 {
			require.ErrorIs(t, err, ErrVersion, "byte %d", off)
		} else {
			require.ErrorIs(t, err, ErrCorrupt, "byte %d", off)
			require.ErrorContains(t, err, "checksum", "byte %d", off)
		}
		restore()
	}
	// The trailer magic.
	rewrite(t, path, func(b []byte) []byte { b[trailer] = 'X'; return b })
	_, err = Open("bad", Dir(dir))
	require.ErrorIs(t, err, ErrBadMagic)
	restore()

	// The lock area and the rest of the trailer are not checked.
	rewrite(t, path, func(b []byte) []byte { b[trailer+lockAreaOff] = 1; b[trailer+4000] = 1; return b })
	o, err := Open("bad", Dir(dir))
	require.NoError(t, err)
	require.Equal(t, byte(1), o.Locks()[0])
	require.NoError(t, o.Close())
	restore()

	// A header that disagrees with the trailer: <f8 became <i8.
	rewrite(t, path, func(b []byte) []byte {
		i := strings.Index(string(b[:DataOffset]), "<f8")
		b[i+1] = 'i'
		return b
	})
	_, err = Open("bad", Dir(dir))
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "the trailer says float64 (1000, 10), the npy header says int64 (1000, 10)")
	restore()

	// A malformed header dict.
	rewrite(t, path, func(b []byte) []byte { copy(b[10:], "{'descr' '<f8'"); return b })
	_, err = Open("bad", Dir(dir))
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "want ':'")
	restore()

	// fortran_order True.
	rewrite(t, path, func(b []byte) []byte {
		i := strings.Index(string(b[:DataOffset]), "False")
		copy(b[i:], "True, ")
		return b
	})
	_, err = Open("bad", Dir(dir))
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "fortran_order")
	restore()

	// A negative dimension in the header.
	rewrite(t, path, func(b []byte) []byte {
		i := strings.Index(string(b[:DataOffset]), "(1000")
		b[i+1] = '-'
		return b
	})
	_, err = Open("bad", Dir(dir))
	require.ErrorIs(t, err, ErrCorrupt)
	restore()

	o, err = Open("bad", Dir(dir))
	require.NoError(t, err)
	require.NoError(t, o.Close())
}

func TestOpenWrongVersion(t *testing.T) {
	s, dir := newSeg(t, "v2", f64)
	require.NoError(t, s.Close())
	trailer := DataOffset + 81920
	// A well-formed trailer of version 2, its CRC recomputed.
	rewrite(t, s.Path(), func(b []byte) []byte {
		tr := b[trailer:]
		binary.LittleEndian.PutUint32(tr[trVersion:], 2)
		binary.LittleEndian.PutUint32(tr[trCRC:], crc32.Checksum(tr[:trCRC], castagnoli))
		return b
	})
	_, err := Open("v2", Dir(dir))
	require.ErrorIs(t, err, ErrVersion)
	require.ErrorContains(t, err, "version 2")
	require.ErrorContains(t, err, s.Path())
	// Damaged segments can still be removed.
	require.NoError(t, Unlink("v2", Dir(dir)))
}

func TestSymlinkRefused(t *testing.T) {
	target, dir := newSeg(t, "target", f64)
	fillPattern(target.Data(), 4)
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target.Path(), link))
	_, err := Open("link", Dir(dir))
	require.Error(t, err)
	require.ErrorIs(t, err, syscall.ELOOP)
	require.ErrorContains(t, err, "symbolic link")
	for _, tmp := range []bool{true, false} {
		useTmpfile = tmp
		_, err = Create("link", Meta{DType: Uint8, Shape: []int{1}}, Dir(dir))
		useTmpfile = true
		require.ErrorIs(t, err, ErrExist)
	}
	// A dangling link is refused too.
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")))
	_, err = Create("dangling", f64, Dir(dir))
	require.ErrorIs(t, err, ErrExist)
	require.NoFileExists(t, filepath.Join(dir, "nowhere"))
	require.Error(t, Unlink("link", Dir(dir)))
	// The target is untouched.
	require.NoError(t, checkPattern(target.Data(), 4))
	require.Equal(t, f64.Shape, target.Meta().Shape)
}

func TestPermissions(t *testing.T) {
	s, _ := newSeg(t, "p", f64)
	fi, err := os.Stat(s.Path())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, tmp := range []bool{true, false} {
		useTmpfile = tmp
		s2, _ := newSeg(t, "q", f64, Mode(0o666|os.ModeSetuid))
		useTmpfile = true
		fi, err = os.Stat(s2.Path())
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o666), fi.Mode().Perm(), "the mode is applied exactly, without the umask")
		require.Zero(t, fi.Mode()&os.ModeSetuid)
	}
}

func TestUnlink(t *testing.T) {
	s, dir := newSeg(t, "u", f64)
	fillPattern(s.Data(), 6)
	require.NoError(t, s.Unlink())
	_, err := Open("u", Dir(dir))
	require.ErrorIs(t, err, ErrNotExist)
	require.NoError(t, checkPattern(s.Data(), 6), "the mapping outlives the name")
	require.ErrorIs(t, s.Unlink(), ErrNotExist)

	// A new segment under the same name is not removed by the old Segment.
	n, err := Create("u", f64, Dir(dir))
	require.NoError(t, err)
	defer n.Close()
	require.ErrorIs(t, s.Unlink(), ErrNotExist)
	require.FileExists(t, n.Path())
	require.NoError(t, Unlink("u", Dir(dir)))
	require.NoFileExists(t, n.Path())
	require.ErrorIs(t, Unlink("u", Dir(dir)), ErrNotExist)

	// A truncated segment can be removed by name.
	t2, err := Create("t", f64, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, t2.Close())
	require.NoError(t, os.Truncate(t2.Path(), 5000))
	require.NoError(t, Unlink("t", Dir(dir)))
	require.Empty(t, dirNames(t, dir))
}

func TestDefaultDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SHMPAR_DIR", dir)
	require.Equal(t, dir, DefaultDir())
	s, err := Create("envdir", f64)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, filepath.Join(dir, "envdir"), s.Path())
	require.NoError(t, Unlink("envdir"))
	t.Setenv("SHMPAR_DIR", "")
	require.Equal(t, "/dev/shm", DefaultDir())
}

func TestCreateAnon(t *testing.T) {
	s, err := CreateAnon("label", Meta{DType: Int32, Shape: []int{7, 3}, Kind: KindArray, Flags: FlagPersistent})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, "label", s.Name())
	fd := s.File().Fd()
	require.Equal(t, "/proc/"+itoa(os.Getpid())+"/fd/"+itoa(int(fd)), s.Path())
	require.Len(t, s.Data(), 84)
	require.Equal(t, FlagPersistent, s.Meta().Flags)
	require.NoError(t, s.Unlink(), "an anonymous segment has no name to remove")
	// Sealed: nobody can shrink it under a mapping.
	require.Error(t, s.File().Truncate(100))

	a, err := CreateAnon("", Meta{DType: Uint8})
	require.NoError(t, err)
	require.Equal(t, "shmpar", a.Name())
	require.NoError(t, a.Close())

	// OpenFile in the same process sees the same memory.
	fillPattern(s.Data(), 9)
	o, err := OpenFile(s.File())
	require.NoError(t, err)
	defer o.Close()
	require.Equal(t, "label", o.Name())
	require.NoError(t, checkPattern(o.Data(), 9))
	require.NotEqual(t, s.Path(), o.Path(), "OpenFile uses its own descriptor")
}

func TestOpenFileNamed(t *testing.T) {
	s, _ := newSeg(t, "byfile", f64)
	f, err := os.OpenFile(s.Path(), os.O_RDWR, 0)
	require.NoError(t, err)
	o, err := OpenFile(f)
	require.NoError(t, f.Close(), "the caller keeps its file")
	require.NoError(t, err)
	defer o.Close()
	require.Equal(t, "byfile", o.Name())
	require.Equal(t, s.Path(), o.Path())

	_, err = OpenFile(nil)
	require.Error(t, err)
	text := filepath.Join(t.TempDir(), "text")
	require.NoError(t, os.WriteFile(text, []byte("text"), 0o600))
	f, err = os.OpenFile(text, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = OpenFile(f)
	require.ErrorIs(t, err, ErrBadMagic)
}

func TestNoSpace(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	m := Meta{DType: Uint8, Shape: []int{4 << 20}}
	for _, tmp := range []bool{true, false} {
		useTmpfile = tmp
		_, err := Create("big", m, Dir(dir))
		useTmpfile = true
		require.ErrorIs(t, err, ErrNoSpace, "tmpfile %v", tmp)
		require.ErrorIs(t, err, syscall.ENOSPC)
		require.ErrorContains(t, err, filepath.Join(dir, "big"))
		require.Empty(t, dirNames(t, dir), "no file may be left behind")
	}
	// What fits still works.
	s, err := Create("small", Meta{DType: Uint8, Shape: []int{100 << 10}}, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestCrossProcessNamed(t *testing.T) {
	s, dir := newSeg(t, "shared", Meta{DType: Uint8, Shape: []int{1 << 20}})
	fillPattern(s.Data(), 1)
	c := startChild(t, "write", []string{"SHM_NAME=shared", "SHM_DIR=" + dir})
	require.Equal(t, "ok", c.Line(t))
	waitOK(t, c)
	// The child's writes are in our mapping, without reopening anything.
	require.NoError(t, checkPattern(s.Data(), 2))
}

func TestCrossProcessInheritedMemfd(t *testing.T) {
	s, err := CreateAnon("inherited", Meta{DType: Uint16, Shape: []int{300, 100}, Kind: KindArray})
	require.NoError(t, err)
	defer s.Close()
	fillPattern(s.Data(), 1)
	c := startChild(t, "inherit", nil, s.File())
	require.Equal(t, "ok inherited array", c.Line(t))
	waitOK(t, c)
	require.NoError(t, checkPattern(s.Data(), 2))
}

func TestCrossProcessMemfdByPath(t *testing.T) {
	s, err := CreateAnon("bypath", Meta{DType: Float32, Shape: []int{5000}})
	require.NoError(t, err)
	defer s.Close()
	fillPattern(s.Data(), 1)
	c := startChild(t, "attach", []string{"SHM_PATH=" + s.Path()})
	require.Equal(t, "ok bypath", c.Line(t))
	waitOK(t, c)
	require.NoError(t, checkPattern(s.Data(), 2))
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrExist, ErrNotExist, ErrBadName, ErrBadMagic, ErrVersion, ErrCorrupt, ErrTruncated, ErrTooLarge, ErrNoSpace, ErrInvalid,
		ErrSymlink, ErrPermission}
	for i, a := range all {
		for j, b := range all {
			require.Equal(t, i == j, errors.Is(a, b))
		}
	}
	require.True(t, errors.Is(existErr(), fs.ErrExist))
}

// TestErrorTexts pins what the errors say: the operation and the segment
// once, then the sentinel's text and the detail, never the package name.
func TestErrorTexts(t *testing.T) {
	dir := t.TempDir()
	s, err := Create("x", f64, Dir(dir))
	require.NoError(t, err)
	defer s.Close()
	path := filepath.Join(dir, "x")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes"), []byte("text"), 0o600))
	_, err = View[int32](s)
	cases := []struct {
		err  error
		want string
	}{
		{err, "view segment " + path + ": invalid segment metadata: it holds float64, not int32"},
		{second(Create("x", f64, Dir(dir))), "create segment " + path + ": segment already exists (file exists)"},
		{second(Create("a/b", f64, Dir(dir))), `create segment: invalid segment name "a/b": contains '/'`},
		{second(Open("nothing", Dir(dir))), "open segment " + filepath.Join(dir, "nothing") + ": segment does not exist (no such file or directory)"},
		{Unlink("notes", Dir(dir)), "unlink segment " + filepath.Join(dir, "notes") + ": not removed: not a shmpar segment: not an npy file (no \\x93NUMPY magic)"},
		{second(AttachRef([]byte("junk"), KindArray, Float64)), `decode segment reference: invalid segment metadata: no "shmpar-ref/1" magic`},
	}
	for _, c := range cases {
		require.EqualError(t, c.err, c.want)
		require.NotRegexp(t, `(^|: )shm: `, c.err.Error(), "a package prefix")
	}
}

func second[T any](_ T, err error) error { return err }
