//go:build linux

package shmap_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/shmap"
)

// nobody is the uid and gid a child switches to in the tests of maps shared
// between users.
const nobody = 65534

// requireRoot skips a test that needs root to chown files or switch a child
// to another user. CI runs as root.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to %s (running as uid %d)", why, os.Geteuid())
	}
}

// becomeNobody drops this process (every thread) to uid and gid nobody.
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

// childForeign runs as uid nobody: it opens the map "m" of DIR, a file of
// another user (root), first without and then with AllowForeign, stores key
// 2 and prints what each Open did and what it loaded.
func childForeign() error {
	if err := becomeNobody(); err != nil {
		return err
	}
	dir := env("DIR")
	_, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	refused := errors.Is(err, shm.ErrForeign)
	m, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir), shmap.AllowForeign())
	if err != nil {
		return err
	}
	defer m.Close()
	v, ok, err := m.Load(1)
	if err != nil {
		return err
	}
	if _, err := m.Update(2, func(old cell, _ bool) cell { return mkcell(old.N+42, nobody) }); err != nil {
		return err
	}
	fmt.Println("refused", refused, "loaded", v.N, ok, "uid", os.Geteuid())
	return nil
}

// TestForeignOpen checks the AllowForeign passthrough: a map made to be
// shared between users (Mode 0o666) is refused by Open without the option,
// in the creating process too, and opened with it; a process of another
// user (uid nobody) opens it with the option and its write is seen here.
func TestForeignOpen(t *testing.T) {
	requireRoot(t, "switch a child to another user")
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0o711))
	require.NoError(t, os.Chmod(dir, 0o777))
	m, err := shmap.Create[uint32, cell]("m", 16, shmap.Dir(dir), shmap.Mode(0o666))
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Store(1, mkcell(5, 0)))

	_, err = shmap.Open[uint32, cell]("m", shmap.Dir(dir))
	require.ErrorIs(t, err, shm.ErrForeign)
	require.ErrorContains(t, err, "AllowForeign")
	o, err := shmap.Open[uint32, cell]("m", shmap.Dir(dir), shmap.AllowForeign())
	require.NoError(t, err)
	defer o.Close()
	v, ok, err := o.Load(1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint64(5), v.N)

	out := testproc.Run(t, "foreign", childEnv(dir)...)
	require.Equal(t, fmt.Sprintf("refused true loaded 5 true uid %d", nobody), strings.TrimSpace(out))
	v, ok, err = m.Load(2)
	require.NoError(t, err)
	require.True(t, ok, "the other user's store is seen")
	require.Equal(t, mkcell(42, nobody), v)
	require.NoError(t, m.Check())
}

// TestForeignGob passes foreign maps to a child inside gob-encoded
// arguments: one created with Mode(0o660), and one of another user (a file
// chowned to nobody) that this process opened with AllowForeign. The
// reference carries the opt-in, so the child attaches each without being
// told, and its store is seen here.
func TestForeignGob(t *testing.T) {
	requireRoot(t, "chown a map's file to another user")
	dir := t.TempDir()
	newCtl(t, dir)
	made, err := shmap.Create[uint32, cell]("made", 16, shmap.Dir(dir), shmap.Mode(0o660))
	require.NoError(t, err)
	defer made.Close()

	theirs, err := shmap.Create[uint32, cell]("theirs", 16, shmap.Dir(dir))
	require.NoError(t, err)
	require.NoError(t, theirs.Close())
	require.NoError(t, os.Chown(filepath.Join(dir, "theirs"), nobody, nobody))
	_, err = shmap.Open[uint32, cell]("theirs", shmap.Dir(dir))
	require.ErrorIs(t, err, shm.ErrForeign, "another user's 0600 file is foreign to root")
	opened, err := shmap.Open[uint32, cell]("theirs", shmap.Dir(dir), shmap.AllowForeign())
	require.NoError(t, err)
	defer opened.Close()

	for _, m := range []*shmap.Map[uint32, cell]{made, opened} {
		require.NoError(t, m.Store(1, mkcell(5, 0)))
		var buf bytes.Buffer
		require.NoError(t, gob.NewEncoder(&buf).Encode(carrier{Note: "hello", M: m}))
		out := testproc.Run(t, "gob", childEnv(dir, "GOB", base64.StdEncoding.EncodeToString(buf.Bytes()))...)
		got, _, _ := strings.Cut(strings.TrimSpace(out), "|")
		require.Equal(t, "hello 5 2", got, "%s: the child attached the map", m.Name())
		v, ok, err := m.Load(7)
		require.NoError(t, err)
		require.True(t, ok, "%s: the parent sees the child's key", m.Name())
		require.Equal(t, uint64(42), v.N)
		require.NoError(t, m.Check())
	}
}
