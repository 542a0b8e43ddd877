//go:build linux

package shm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// noSpareDescriptors is the child role that lowers its descriptor limit to
// the descriptors it has open, then checks that each call that needs one
// more fails with a clear EMFILE error, and that List does not return a
// partial listing as if it were whole. It prints "ok" or what was wrong.
func noSpareDescriptors() error {
	dir := os.Getenv("SHM_DIR")
	if r, w, err := os.Pipe(); err == nil { // the runtime's poller, opened on first use
		r.Close()
		w.Close()
	}
	// The limit bounds descriptor numbers: set it to the lowest free one.
	free := 0
	for {
		if _, err := unix.FcntlInt(uintptr(free), unix.F_GETFD, 0); err != nil {
			break
		}
		free++
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = uint64(free)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	var wrong []string
	check := func(op string, err error) {
		if !errors.Is(err, syscall.EMFILE) || !strings.Contains(fmt.Sprint(err), "ulimit -n") {
			wrong = append(wrong, fmt.Sprintf("%s: %v", op, err))
		}
	}
	_, _, _, ok, err := inspect("grid", filepath.Join(dir, "grid"))
	if ok {
		wrong = append(wrong, "inspect: opened a file with no descriptor to spare")
	}
	check("inspect", err)
	_, err = List(Dir(dir))
	check("List", err)
	_, err = Sweep(Dir(dir))
	check("Sweep", err)
	_, err = Open("grid", Dir(dir))
	check("Open", err)
	_, err = Create("new", small, Dir(dir))
	check("Create", err)
	_, err = CreateAnon("anon", small)
	check("CreateAnon", err)
	if len(wrong) > 0 {
		fmt.Println("wrong:", strings.Join(wrong, "; "))
	} else {
		fmt.Println("ok")
	}
	return nil
}

func TestOutOfDescriptors(t *testing.T) {
	_, dir := newSeg(t, "grid", small)
	c := startChild(t, "no-spare-fds", []string{"SHM_DIR=" + dir})
	require.Equal(t, "ok", c.Line(t))
	waitOK(t, c)
	require.Equal(t, []string{"grid"}, dirNames(t, dir), "nothing created, nothing removed")
}

func TestOpenSocketFile(t *testing.T) {
	dir := t.TempDir()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NoError(t, unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(dir, "sock")}))
	_, err = Open("sock", Dir(dir))
	require.ErrorIs(t, err, ErrBadMagic)
	require.ErrorContains(t, err, "not a regular file")
	_, err = Attach(filepath.Join(dir, "sock"))
	require.ErrorIs(t, err, ErrBadMagic)
	require.ErrorIs(t, Unlink("sock", Dir(dir)), ErrBadMagic)
	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, infos)
}
