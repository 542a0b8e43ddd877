//go:build linux

package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// nobody is the uid and gid the tests that need another user switch a child
// process to.
const nobody = 65534

// requireRoot skips a test that needs root: to chown files to another user,
// to switch a child to another uid, or to mount a tmpfs. CI runs as root.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to %s (running as uid %d)", why, os.Geteuid())
	}
}

// sharedDir returns a fresh directory with the given mode that uid nobody
// can reach (its parent, the test's temporary directory, is made
// searchable).
func sharedDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	require.NoError(t, os.Chmod(dir, mode))
	return dir
}

// tinyTmpfs mounts a tmpfs with the given options (as "size=1m") on a fresh
// directory, unmounted when the test ends.
func tinyTmpfs(t *testing.T, opts string) string {
	t.Helper()
	requireRoot(t, "mount a tmpfs")
	dir := t.TempDir()
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", 0, opts), "mount tmpfs -o %s", opts)
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// becomeNobody drops the calling process (every thread: Go's Setuid is
// process-wide on Linux) to uid and gid nobody, with no supplementary
// groups.
func becomeNobody() error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(nobody); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(nobody); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	return nil
}

// describeErr prints err with the sentinels it matches, for a child to
// report to the test.
func describeErr(err error) string {
	if err == nil {
		return "ok"
	}
	s := "err"
	for _, c := range []struct {
		name string
		err  error
	}{{"ErrPermission", ErrPermission}, {"fs.ErrPermission", fs.ErrPermission}, {"ErrSymlink", ErrSymlink},
		{"ErrNotExist", ErrNotExist}, {"ErrExist", ErrExist}, {"ErrNoSpace", ErrNoSpace}} {
		if errors.Is(err, c.err) {
			s += " " + c.name
		}
	}
	return s + ": " + err.Error()
}

// asNobody is the child role that switches to uid nobody and then does
// $SHM_ACTION on segment $SHM_NAME in $SHM_DIR, printing the outcome.
func asNobody() error {
	if err := becomeNobody(); err != nil {
		return err
	}
	name, dir := os.Getenv("SHM_NAME"), Dir(os.Getenv("SHM_DIR"))
	switch a := os.Getenv("SHM_ACTION"); a {
	case "open":
		s, err := Open(name, dir)
		if err == nil {
			s.Close()
		}
		fmt.Println(describeErr(err))
	case "create":
		s, err := Create(name, Meta{DType: Uint8, Shape: []int{10}}, dir)
		if err == nil {
			s.Close()
		}
		fmt.Println(describeErr(err))
	case "unlink":
		fmt.Println(describeErr(Unlink(name, dir)))
	default:
		return fmt.Errorf("unknown action %q", a)
	}
	return nil
}

// runAsNobody runs action on name in dir in a child switched to uid nobody
// and returns what it printed.
func runAsNobody(t *testing.T, action, name, dir string) string {
	t.Helper()
	c := startChild(t, "as-nobody", []string{"SHM_ACTION=" + action, "SHM_NAME=" + name, "SHM_DIR=" + dir})
	line := c.Line(t)
	waitOK(t, c)
	return line
}

func TestPermissionErrors(t *testing.T) {
	requireRoot(t, "switch a child to another uid")
	dir := sharedDir(t, 0o1777) // like /dev/shm
	s, err := Create("private", f64, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// Another user's 0600 segment.
	got := runAsNobody(t, "open", "private", dir)
	require.Equal(t, "err ErrPermission fs.ErrPermission: open segment "+filepath.Join(dir, "private")+
		": no permission for segment (permission denied): owned by uid 0 with mode 0600; you are uid 65534", got)
	// Another user's file in a sticky directory cannot be removed.
	got = runAsNobody(t, "unlink", "private", dir)
	require.Contains(t, got, "err ErrPermission fs.ErrPermission: ")
	require.FileExists(t, filepath.Join(dir, "private"))
	// A directory the user may not write.
	ro := sharedDir(t, 0o755)
	got = runAsNobody(t, "create", "x", ro)
	require.Equal(t, "err ErrPermission fs.ErrPermission: create segment "+filepath.Join(ro, "x")+
		": no permission for segment: cannot create a file in "+ro+" (owned by uid 0 with mode 0755; you are uid 65534): open "+ro+": permission denied", got)
	require.Empty(t, dirNames(t, ro))
}

func TestSymlinkSentinel(t *testing.T) {
	target, dir := newSeg(t, "target", f64)
	require.NoError(t, os.Symlink(target.Path(), filepath.Join(dir, "link")))
	_, err := Open("link", Dir(dir))
	require.ErrorIs(t, err, ErrSymlink)
	require.ErrorIs(t, err, syscall.ELOOP)
	require.EqualError(t, err, "open segment "+filepath.Join(dir, "link")+
		": segment name is a symbolic link: segments are never opened through one (too many levels of symbolic links)")
	_, err = Create("link", f64, Dir(dir))
	require.ErrorIs(t, err, ErrExist)
	require.ErrorIs(t, err, ErrSymlink)
	require.ErrorIs(t, err, fs.ErrExist)
	err = Unlink("link", Dir(dir))
	require.ErrorIs(t, err, ErrSymlink)
	require.FileExists(t, target.Path())
}

func TestNoInodes(t *testing.T) {
	dir := tinyTmpfs(t, "size=1m,nr_inodes=2") // the root directory takes one
	first, err := Create("first", Meta{DType: Uint8, Shape: []int{10}}, Dir(dir))
	require.NoError(t, err)
	require.NoError(t, first.Close())
	for _, tmp := range []bool{true, false} {
		useTmpfile = tmp
		_, err := Create("second", Meta{DType: Uint8, Shape: []int{10}}, Dir(dir))
		useTmpfile = true
		require.ErrorIs(t, err, ErrNoSpace, "tmpfile %v", tmp)
		require.ErrorIs(t, err, syscall.ENOSPC, "tmpfile %v", tmp)
		require.ErrorContains(t, err, "no inode or no space left")
		require.Equal(t, []string{"first"}, dirNames(t, dir))
	}
}

func TestForeignRefused(t *testing.T) {
	requireRoot(t, "chown a file to another user")
	s, dir := newSeg(t, "f", f64)
	fillPattern(s.Data(), 3)
	path := s.Path()
	cases := []struct {
		uid  int
		mode os.FileMode
		why  string // "" when the file is not foreign
	}{
		{nobody, 0o600, "owned by uid 65534, not by you (uid 0): its owner can truncate it under your mapping"},
		{nobody, 0o666, "owned by uid 65534, not by you (uid 0)"},
		{0, 0o666, "mode 0666 lets group and others write it, and truncate it under your mapping"},
		{0, 0o620, "mode 0620 lets group write it"},
		{0, 0o602, "mode 0602 lets others write it"},
		{0, 0o644, ""},
		{0, 0o600, ""},
	}
	for _, c := range cases {
		require.NoError(t, os.Chown(path, c.uid, c.uid))
		require.NoError(t, os.Chmod(path, c.mode))
		o, err := Open("f", Dir(dir))
		infos, lerr := List(Dir(dir))
		require.NoError(t, lerr)
		require.Len(t, infos, 1)
		require.Equal(t, c.why != "", infos[0].Foreign, "uid %d mode %04o", c.uid, c.mode)
		if c.why == "" {
			require.NoError(t, err, "uid %d mode %04o", c.uid, c.mode)
			require.NoError(t, o.Close())
			continue
		}
		require.ErrorIs(t, err, ErrForeign, "uid %d mode %04o", c.uid, c.mode)
		require.ErrorContains(t, err, "open segment "+path+": foreign segment: "+c.why)
		require.ErrorContains(t, err, "AllowForeign")
		// Opted in, it opens, and it is the same memory.
		o, err = Open("f", Dir(dir), AllowForeign())
		require.NoError(t, err)
		require.NoError(t, checkPattern(o.Data(), 3))
		require.NoError(t, o.Close())
		// OpenFile checks a named file the same way.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		require.NoError(t, err)
		_, err = OpenFile(f)
		require.ErrorIs(t, err, ErrForeign)
		o, err = OpenFile(f, AllowForeign())
		require.NoError(t, err)
		require.NoError(t, o.Close())
		require.NoError(t, f.Close())
	}
	// Creating over another user's file says whose it is.
	require.NoError(t, os.Chown(path, nobody, nobody))
	_, err := Create("f", f64, Dir(dir))
	require.ErrorIs(t, err, ErrExist)
	require.ErrorIs(t, err, ErrForeign)
	require.ErrorContains(t, err, "belongs to uid 65534")
}

func TestForeignAttachAndRef(t *testing.T) {
	requireRoot(t, "chown a file to another user")
	t.Cleanup(releaseAll)
	s, _ := newSeg(t, "fa", f64)
	fillPattern(s.Data(), 5)
	require.NoError(t, os.Chown(s.Path(), nobody, nobody))
	_, err := Attach(s.Path())
	require.ErrorIs(t, err, ErrForeign)
	a, err := Attach(s.Path(), AllowForeign())
	require.NoError(t, err)
	_, err = Attach(s.Path())
	require.ErrorIs(t, err, ErrForeign, "a cached foreign segment is refused to a caller who did not allow it")

	// A reference carries what its sender accepted: a worker attaches it.
	b, err := RefOf(a).MarshalBinary()
	require.NoError(t, err)
	require.Contains(t, string(b), " foreign /")
	var r Ref
	require.NoError(t, r.UnmarshalBinary(b))
	require.True(t, r.Foreign)
	require.Equal(t, s.Path(), r.Path)
	c := startChild(t, "attach-ref", []string{"SHM_REF=" + string(b)})
	require.Equal(t, "ok", c.Line(t))
	waitOK(t, c)
	require.NoError(t, checkPattern(s.Data(), 2), "the child wrote through its mapping")
	// The creator's own reference does not carry it.
	plain, err := RefOf(s).MarshalBinary()
	require.NoError(t, err)
	require.NotContains(t, string(plain), "foreign")
	c = startChild(t, "attach-ref", []string{"SHM_REF=" + string(plain)})
	_, err = c.Wait()
	require.Error(t, err)
	require.Contains(t, c.Stderr(), "foreign segment")

	// A segment created with a mode others may write is foreign by choice:
	// its references carry the mark.
	m, dir := newSeg(t, "shared", f64, Mode(0o666))
	b, err = RefOf(m).MarshalBinary()
	require.NoError(t, err)
	require.Contains(t, string(b), " foreign /")
	_, err = Open("shared", Dir(dir))
	require.ErrorIs(t, err, ErrForeign)
}

func TestMemfdIsNeverForeign(t *testing.T) {
	s, err := CreateAnon("anon", f64)
	require.NoError(t, err)
	defer s.Close()
	fi, err := s.File().Stat()
	require.NoError(t, err)
	require.NotZero(t, fi.Mode().Perm()&0o022, "a memfd's mode lets others write it (%04o)", fi.Mode().Perm())
	o, err := OpenFile(s.File())
	require.NoError(t, err)
	require.NoError(t, o.Close())
	b, err := RefOf(s).MarshalBinary()
	require.NoError(t, err)
	require.NotContains(t, string(b), "foreign")
}

func TestSquattedName(t *testing.T) {
	requireRoot(t, "switch a child to another uid")
	dir := sharedDir(t, 0o1777) // world-writable and sticky, like /dev/shm
	// Another user takes the name first.
	require.Equal(t, "ok", runAsNobody(t, "create", "grid", dir))
	_, err := Create("grid", f64, Dir(dir))
	require.ErrorIs(t, err, ErrExist)
	require.ErrorIs(t, err, ErrForeign)
	require.EqualError(t, err, "create segment "+filepath.Join(dir, "grid")+": segment already exists: foreign segment: the file at the name "+
		"belongs to uid 65534, not to you (uid 0); in a shared directory such as /dev/shm another user can take a name first (file exists)")
	// The usual fallback, Open, says so instead of handing back the file.
	_, err = Open("grid", Dir(dir))
	require.ErrorIs(t, err, ErrForeign)
	require.ErrorContains(t, err, "owned by uid 65534")
	// The squatter may not remove it from under a later owner either: the
	// directory is sticky. And Sweep leaves it alone.
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, removed)
	require.FileExists(t, filepath.Join(dir, "grid"))
}

func TestSweepLeavesForeign(t *testing.T) {
	requireRoot(t, "chown a file to another user")
	dir := t.TempDir()
	c := startChild(t, "create-and-wait", []string{"SHM_DIR=" + dir})
	require.Equal(t, "ready", c.Line(t))
	require.NoError(t, c.Kill())
	_, err := c.Wait()
	require.Error(t, err)
	leaked := filepath.Join(dir, "leaked")
	require.NoError(t, os.Chown(leaked, nobody, nobody))
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, removed, "another user's segment is not swept by default")
	require.FileExists(t, leaked)
	removed, err = Sweep(Dir(dir), AllowForeign())
	require.NoError(t, err)
	require.Equal(t, []string{"leaked"}, infoNames(removed))
	require.True(t, removed[0].Foreign)
	require.NoFileExists(t, leaked)
}
