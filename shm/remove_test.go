//go:build linux

package shm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
)

var small = Meta{DType: Uint8, Shape: []int{4096}, Kind: KindRaw} // trailer at 8192

// makeDead creates the segment name in dir as if a process that is gone had
// made it (our pid with another start time), and returns its FileInfo.
func makeDead(t *testing.T, dir, name string, edit func(*Meta)) os.FileInfo {
	t.Helper()
	s, err := Create(name, small, Dir(dir))
	require.NoError(t, err)
	m := s.Meta()
	require.NoError(t, s.Close())
	m.CreatorStart++
	if edit != nil {
		edit(&m)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(encodeTrailer(m), DataOffset+4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(filepath.Join(dir, name))
	require.NoError(t, err)
	return fi
}

// removePaused is the child role that runs $SHM_OP ("sweep", or "unlink"
// of $SHM_NAME) in $SHM_DIR, pausing at the steps of removeChecked listed in
// $SHM_PAUSE. At each it prints "paused STEP", then waits: at "checked"
// with $SHM_WAIT_REPLACED set, until the name no longer leads to the file
// it checked; with $SHM_GATE set, until the file $SHM_GATE.STEP exists;
// otherwise until its stdin is closed. It prints the outcome.
func removePaused() error {
	dir, name := os.Getenv("SHM_DIR"), os.Getenv("SHM_NAME")
	pause := strings.Split(os.Getenv("SHM_PAUSE"), ",")
	var hookErr error
	removeHook = func(step, path string) {
		if !slices.Contains(pause, step) {
			return
		}
		before, _ := os.Lstat(path)
		fmt.Println("paused", step)
		if step == "checked" && os.Getenv("SHM_WAIT_REPLACED") != "" {
			err := testproc.Poll("the name to be given to another file", func() bool {
				cur, err := os.Lstat(path)
				return err == nil && before != nil && !os.SameFile(cur, before)
			})
			if err != nil && hookErr == nil {
				hookErr = err
			}
			return
		}
		if gate := os.Getenv("SHM_GATE"); gate != "" {
			err := testproc.Poll("the gate "+gate+"."+step, func() bool {
				_, err := os.Stat(gate + "." + step)
				return err == nil
			})
			if err != nil && hookErr == nil {
				hookErr = err
			}
			return
		}
		io.Copy(io.Discard, os.Stdin)
	}
	switch op := os.Getenv("SHM_OP"); op {
	case "sweep":
		removed, err := Sweep(Dir(dir))
		fmt.Printf("removed %q %s\n", infoNames(removed), describeErr(err))
	case "unlink":
		fmt.Println(describeErr(Unlink(name, Dir(dir))))
	default:
		return fmt.Errorf("unknown op %q", op)
	}
	return hookErr
}

// startRemover starts a removePaused child.
func startRemover(t *testing.T, op, dir, name, pause string, waitReplaced bool) *testproc.Child {
	t.Helper()
	env := []string{"SHM_OP=" + op, "SHM_DIR=" + dir, "SHM_NAME=" + name, "SHM_PAUSE=" + pause}
	if waitReplaced {
		env = append(env, "SHM_WAIT_REPLACED=1")
	}
	return startChild(t, "remove-paused", env)
}

// replace removes the segment at name and creates a live one in its place,
// filled with pattern 8.
func replace(t *testing.T, dir, name string) *Segment {
	t.Helper()
	require.NoError(t, os.Remove(filepath.Join(dir, name)))
	s, err := Create(name, small, Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	fillPattern(s.Data(), 8)
	return s
}

// requireLive checks that name in dir is the segment s, intact.
func requireLive(t *testing.T, dir, name string, s *Segment) {
	t.Helper()
	o, err := Open(name, Dir(dir))
	require.NoError(t, err, "the live segment must still be at its name")
	defer o.Close()
	require.True(t, os.SameFile(o.ident, s.ident), "the name leads to another file")
	require.NoError(t, checkPattern(o.Data(), 8))
}

// TestSweepSparesReplacedName is the race of issue 12, item 3: the name of
// a dead segment is given to a live one between Sweep's check and its
// removal. The sweeper, a child, pauses right after the check; the test
// replaces the file; the live segment must survive.
func TestSweepSparesReplacedName(t *testing.T) {
	for _, op := range []string{"sweep", "unlink"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			makeDead(t, dir, "grid", nil)
			c := startRemover(t, op, dir, "grid", "checked", false)
			require.Equal(t, "paused checked", c.Line(t))
			live := replace(t, dir, "grid")
			require.NoError(t, c.CloseStdin())
			out := c.Line(t)
			c.WaitOK(t)
			if op == "sweep" {
				require.Equal(t, "removed [] ok", out)
			} else {
				require.Equal(t, "err ErrNotExist: unlink segment "+filepath.Join(dir, "grid")+
					": segment does not exist: the name now belongs to another file; not removed", out)
			}
			requireLive(t, dir, "grid", live)
			require.Equal(t, []string{"grid"}, dirNames(t, dir), "nothing left at a private name")
		})
	}
}

// TestSweepPutsBackWhatItTook: the name is replaced after the cheap look
// and before the move, so the sweeper takes the live file, sees it is not
// the one it checked, and puts it back.
func TestSweepPutsBackWhatItTook(t *testing.T) {
	dir := t.TempDir()
	makeDead(t, dir, "grid", nil)
	c := startRemover(t, "sweep", dir, "grid", "checked,moved", true)
	require.Equal(t, "paused checked", c.Line(t))
	live := replace(t, dir, "grid") // the child goes on once it sees this
	require.Equal(t, "paused moved", c.Line(t))
	// The live file is at the sweeper's private name now: the name is free,
	// and an Open of it says so cleanly.
	_, err := Open("grid", Dir(dir))
	require.ErrorIs(t, err, ErrNotExist)
	names := dirNames(t, dir)
	require.Len(t, names, 1)
	require.True(t, strings.HasPrefix(names[0], privatePrefix), names[0])
	require.NoError(t, c.CloseStdin())
	require.Equal(t, "removed [] ok", c.Line(t))
	c.WaitOK(t)
	requireLive(t, dir, "grid", live)
	require.Equal(t, []string{"grid"}, dirNames(t, dir))
}

// TestSweepWindowIsCleanNotExist: while the checked (dead) file is at the
// private name, an Open of the name gets ErrNotExist, and List shows the
// file under its private name; then the sweep completes.
func TestSweepWindowIsCleanNotExist(t *testing.T) {
	dir := t.TempDir()
	makeDead(t, dir, "grid", nil)
	c := startRemover(t, "sweep", dir, "grid", "moved", false)
	require.Equal(t, "paused moved", c.Line(t))
	_, err := Open("grid", Dir(dir))
	require.ErrorIs(t, err, ErrNotExist)
	require.EqualError(t, err, "open segment "+filepath.Join(dir, "grid")+": segment does not exist (no such file or directory)")
	_, err = Create("grid", small, Dir(dir))
	require.NoError(t, err, "the name is free while the sweeper holds the file aside")
	// The sweeper must now neither remove the new segment nor be fooled.
	require.NoError(t, c.CloseStdin())
	require.Equal(t, `removed ["grid"] ok`, c.Line(t))
	c.WaitOK(t)
	require.Equal(t, []string{"grid"}, dirNames(t, dir))
	o, err := Open("grid", Dir(dir))
	require.NoError(t, err)
	require.NoError(t, o.Close())
}

// TestSweepCrashMidway kills the sweeper with the file at its private name,
// for both files it may hold there: the dead one it checked (the next
// Sweep finishes the removal) and a live one it took by mistake (the next
// Sweep puts it back).
func TestSweepCrashMidway(t *testing.T) {
	t.Run("checked file", func(t *testing.T) {
		dir := t.TempDir()
		makeDead(t, dir, "grid", nil)
		c := startRemover(t, "sweep", dir, "grid", "moved", false)
		require.Equal(t, "paused moved", c.Line(t))
		require.NoError(t, c.Kill())
		_, err := c.Wait()
		require.Error(t, err)
		names := dirNames(t, dir)
		require.Len(t, names, 1)
		require.True(t, strings.HasPrefix(names[0], privatePrefix))
		// List shows it under the private name; Open of the name says it is gone.
		infos, err := List(Dir(dir))
		require.NoError(t, err)
		require.Equal(t, names, infoNames(infos))
		_, err = Open("grid", Dir(dir))
		require.ErrorIs(t, err, ErrNotExist)

		removed, err := Sweep(Dir(dir))
		require.NoError(t, err)
		require.Equal(t, []string{"grid"}, infoNames(removed))
		require.Equal(t, filepath.Join(dir, names[0]), removed[0].Path)
		require.Empty(t, dirNames(t, dir))
	})
	t.Run("live file taken", func(t *testing.T) {
		dir := t.TempDir()
		makeDead(t, dir, "grid", nil)
		c := startRemover(t, "sweep", dir, "grid", "checked,moved", true)
		require.Equal(t, "paused checked", c.Line(t))
		live := replace(t, dir, "grid")
		require.Equal(t, "paused moved", c.Line(t))
		require.NoError(t, c.Kill())
		_, err := c.Wait()
		require.Error(t, err)
		_, err = Open("grid", Dir(dir))
		require.ErrorIs(t, err, ErrNotExist)

		removed, err := Sweep(Dir(dir))
		require.NoError(t, err)
		require.Empty(t, removed)
		requireLive(t, dir, "grid", live)
		require.Equal(t, []string{"grid"}, dirNames(t, dir))
	})
	t.Run("live file taken, name taken again", func(t *testing.T) {
		dir := t.TempDir()
		makeDead(t, dir, "grid", nil)
		c := startRemover(t, "sweep", dir, "grid", "checked,moved", true)
		require.Equal(t, "paused checked", c.Line(t))
		replace(t, dir, "grid")
		require.Equal(t, "paused moved", c.Line(t))
		require.NoError(t, c.Kill())
		_, err := c.Wait()
		require.Error(t, err)
		third, err := Create("grid", small, Dir(dir))
		require.NoError(t, err)
		defer third.Close()
		// The taken file cannot go back: Sweep says so, removes nothing.
		removed, err := Sweep(Dir(dir))
		require.Empty(t, removed)
		require.ErrorContains(t, err, "put "+filepath.Join(dir, privatePrefix))
		require.ErrorContains(t, err, "file exists")
		require.Len(t, dirNames(t, dir), 2)
		// Once the name is free, the next Sweep puts it back.
		require.NoError(t, third.Unlink())
		removed, err = Sweep(Dir(dir))
		require.NoError(t, err)
		require.Empty(t, removed)
		require.Equal(t, []string{"grid"}, dirNames(t, dir))
	})
}

// TestSweepKeepsUnknownCreator: creator pid 0 means "unknown"
// (docs/FORMAT.md); such a segment cannot be proven abandoned.
func TestSweepKeepsUnknownCreator(t *testing.T) {
	dir := t.TempDir()
	makeDead(t, dir, "unknown", func(m *Meta) { m.CreatorPID, m.CreatorStart = 0, 0 })
	makeDead(t, dir, "dead", nil)
	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"dead", "unknown"}, infoNames(infos))
	require.False(t, infos[0].Alive)
	require.True(t, infos[1].Alive, "an unknown creator counts as alive")
	would, err := Sweep(Dir(dir), DryRun())
	require.NoError(t, err)
	require.Equal(t, []string{"dead"}, infoNames(would))
	require.Equal(t, []string{"dead", "unknown"}, dirNames(t, dir), "a dry run removes nothing")
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"dead"}, infoNames(removed))
	require.Equal(t, []string{"unknown"}, dirNames(t, dir))
}

// TestSweepSkipsInvalidNames: a dead segment under a name ValidateName
// refuses (made by another tool) is listed but not swept.
func TestSweepSkipsInvalidNames(t *testing.T) {
	dir := t.TempDir()
	makeDead(t, dir, "x", nil)
	require.NoError(t, os.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "a\nb")))
	infos, err := List(Dir(dir))
	require.NoError(t, err)
	require.Equal(t, []string{"a\nb"}, infoNames(infos))
	removed, err := Sweep(Dir(dir))
	require.NoError(t, err)
	require.Empty(t, removed)
	require.Equal(t, []string{"a\nb"}, dirNames(t, dir))
}

func TestPrivateNames(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen)
	p := privateName(long, ^uint64(0))
	require.LessOrEqual(t, len(p), 255, "a private name must fit in a file name")
	got, ok := parsePrivate(p)
	require.True(t, ok)
	require.Equal(t, long, got.name)
	require.Equal(t, ^uint64(0), got.ino)
	got, ok = parsePrivate(privateName("a.b.c", 7))
	require.True(t, ok)
	require.Equal(t, "a.b.c", got.name)
	for _, bad := range []string{"grid", privatePrefix, privatePrefix + "1.2.3.", privatePrefix + "x.2.3.n", privatePrefix + "0.2.3.n"} {
		_, ok := parsePrivate(bad)
		require.False(t, ok, bad)
	}
	require.ErrorIs(t, ValidateName(privatePrefix+"1.2.3.grid"), ErrBadName)
	require.NoError(t, ValidateName(".shmpar-rmx"))
}

// TestUnlinkOwnWhileTakenAside: a remover that took a live segment's name
// by mistake holds the live file at its private name for a moment (step 4
// of the package doc's Sweep section). The segment's own Unlink in that
// moment must wait for the file to come back and remove it, not fail with
// ErrNotExist and leave the segment behind (the chaos scenario
// shm/sweep-races-creators caught that). If the remover dies holding the
// file, Unlink puts it back itself.
func TestUnlinkOwnWhileTakenAside(t *testing.T) {
	for _, kill := range []bool{false, true} {
		t.Run(map[bool]string{false: "remover puts it back", true: "remover killed"}[kill], func(t *testing.T) {
			dir := t.TempDir()
			makeDead(t, dir, "grid", nil)
			c := startRemover(t, "sweep", dir, "grid", "checked,moved", true)
			require.Equal(t, "paused checked", c.Line(t))
			live := replace(t, dir, "grid")
			require.Equal(t, "paused moved", c.Line(t))
			if kill {
				require.NoError(t, c.Kill())
				_, err := c.Wait()
				require.Error(t, err)
			}
			aside := make(chan string, 1)
			asideHook = func(path string) {
				select {
				case aside <- path:
				default:
				}
			}
			t.Cleanup(func() { asideHook = nil })
			done := make(chan error, 1)
			go func() { done <- live.Unlink() }()
			if !kill {
				// Unlink is observably waiting for the file to come back
				// before the remover is let go.
				select {
				case path := <-aside:
					require.True(t, strings.HasPrefix(filepath.Base(path), privatePrefix), path)
				case err := <-done:
					t.Fatalf("Unlink returned (%v) while its file was held aside", err)
				case <-time.After(20 * time.Second):
					t.Fatal("Unlink did not find its file at the private name within 20 s")
				}
				require.NoError(t, c.CloseStdin())
				require.Equal(t, "removed [] ok", c.Line(t))
				c.WaitOK(t)
			}
			select {
			case err := <-done:
				require.NoError(t, err, "a segment's own Unlink must not fail while a remover holds its file aside")
			case <-time.After(20 * time.Second):
				t.Fatal("Unlink did not return within 20 s")
			}
			require.Empty(t, dirNames(t, dir), "the segment is removed and nothing is left at a private name")
		})
	}
}

// TestOpenWhileTakenAside: a remover moves the file aside between Open's
// open and its look at /proc (which shows the private name then). The
// segment must still know itself by its name: its Unlink must not go by
// the private name and take the file from under the remover, which would
// then fail ("cannot be put back"). The chaos scenario
// shm/sweep-races-creators caught that. OpenFile of a file held aside
// names it by its name too.
func TestOpenWhileTakenAside(t *testing.T) {
	dir := t.TempDir()
	makeDead(t, dir, "grid", nil)
	var c *testproc.Child
	openedHook = func(string) {
		c = startRemover(t, "sweep", dir, "grid", "moved", false)
		require.Equal(t, "paused moved", c.Line(t))
	}
	s, err := Open("grid", Dir(dir))
	openedHook = nil
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, "grid", s.Name())
	require.Equal(t, filepath.Join(dir, "grid"), s.Path())

	o, err := OpenFile(s.File())
	require.NoError(t, err)
	require.Equal(t, "grid", o.Name(), "OpenFile names a file held aside by its name")
	require.NoError(t, o.Close())

	// Unlink while the remover holds the file: it returns, or waits for
	// the file (observably), before the remover goes on.
	aside := make(chan string, 1)
	asideHook = func(path string) {
		select {
		case aside <- path:
		default:
		}
	}
	t.Cleanup(func() { asideHook = nil })
	done := make(chan error, 1)
	go func() { done <- s.Unlink() }()
	var uerr error
	returned := false
	select {
	case uerr = <-done:
		returned = true
	case <-aside:
	case <-time.After(20 * time.Second):
		t.Fatal("Unlink neither returned nor waited within 20 s")
	}
	// Whichever removes the file, the other is told another remover won.
	require.NoError(t, c.CloseStdin())
	out := c.Line(t)
	c.WaitOK(t)
	if !returned {
		select {
		case uerr = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("Unlink did not return within 20 s")
		}
	}
	switch out {
	case `removed ["grid"] ok`:
		require.ErrorIs(t, uerr, ErrNotExist)
	case "removed [] ok":
		require.NoError(t, uerr)
	default:
		t.Fatalf("the remover failed: %s (Unlink: %v)", out, uerr)
	}
	require.Empty(t, dirNames(t, dir), "the file is removed and nothing is left at a private name")
}

// openGate lets a removePaused child started with SHM_GATE=gate go on from
// its pause at step.
func openGate(t *testing.T, gate, step string) {
	t.Helper()
	require.NoError(t, os.WriteFile(gate+"."+step, nil, 0o600))
}

// TestUnlinkOwnWhileTakenMidway: a segment's own Unlink has checked its
// file at its name when another process's remover (whose checked file the
// name had held before) takes the name by mistake. Unlink's move aside
// then finds the name gone; it must not fail with ErrNotExist (the chaos
// scenario shm/sweep-races-creators caught that) but take its file from
// the remover's private name and remove it. The remover is told another
// remover won.
func TestUnlinkOwnWhileTakenMidway(t *testing.T) {
	dir, gate := t.TempDir(), filepath.Join(t.TempDir(), "gate")
	makeDead(t, dir, "grid", nil)
	c := startChild(t, "remove-paused", []string{"SHM_OP=sweep", "SHM_DIR=" + dir, "SHM_PAUSE=checked,moved", "SHM_GATE=" + gate})
	require.Equal(t, "paused checked", c.Line(t))
	live := replace(t, dir, "grid")
	held := false
	removeHook = func(step, path string) {
		if step == "checked" && !held {
			// Unlink has looked at its name; now the remover takes it.
			held = true
			openGate(t, gate, "checked")
			require.Equal(t, "paused moved", c.Line(t))
		}
	}
	t.Cleanup(func() { removeHook = nil })
	require.NoError(t, live.Unlink(), "a segment's own Unlink must not fail while a remover holds its file aside")
	require.True(t, held, "Unlink never reached its check")
	openGate(t, gate, "moved")
	require.Equal(t, "removed [] ok", c.Line(t))
	c.WaitOK(t)
	require.Empty(t, dirNames(t, dir), "the segment is removed and nothing is left at a private name")
}

// TestNameTakenAgainWhileAside: a remover took a live segment's name by
// mistake, and while it held the file aside another segment was created
// under the name, so the file cannot go back. The remover's Sweep must not
// fail (its own target was gone: another remover won); the live segment's
// own Unlink removes its file from the private name; the new segment keeps
// the name. And when the file left aside is an abandoned segment, the next
// Sweep removes it there.
func TestNameTakenAgainWhileAside(t *testing.T) {
	for _, owner := range []string{"live owner unlinks", "creator dead, swept"} {
		t.Run(owner, func(t *testing.T) {
			dir := t.TempDir()
			makeDead(t, dir, "grid", nil)
			c := startRemover(t, "sweep", dir, "grid", "checked,moved", true)
			require.Equal(t, "paused checked", c.Line(t))
			var aside *Segment
			if owner == "live owner unlinks" {
				aside = replace(t, dir, "grid")
			} else {
				// Made elsewhere and renamed over the name: the remover,
				// waiting for the name to change, must only ever find a
				// whole abandoned segment there.
				other := t.TempDir()
				makeDead(t, other, "grid", nil)
				require.NoError(t, os.Rename(filepath.Join(other, "grid"), filepath.Join(dir, "grid")))
			}
			require.Equal(t, "paused moved", c.Line(t))
			third, err := Create("grid", small, Dir(dir))
			require.NoError(t, err, "the name is free while the remover holds the file aside")
			defer third.Close()
			fillPattern(third.Data(), 8)
			require.NoError(t, c.CloseStdin())
			require.Equal(t, "removed [] ok", c.Line(t), "the remover's own target was gone: not a failure")
			c.WaitOK(t)
			names := dirNames(t, dir)
			require.Len(t, names, 2, "the file taken aside stays at the private name: %v", names)
			if aside != nil {
				require.NoError(t, aside.Unlink(), "a live segment's own Unlink removes its file wherever a remover left it")
			} else {
				removed, err := Sweep(Dir(dir))
				require.NoError(t, err)
				require.Equal(t, []string{"grid"}, infoNames(removed))
				require.True(t, strings.HasPrefix(filepath.Base(removed[0].Path), privatePrefix), removed[0].Path)
			}
			require.Equal(t, []string{"grid"}, dirNames(t, dir))
			requireLive(t, dir, "grid", third)
		})
	}
}

// TestUnlinkOwnRenamedByHand: a segment whose file was given another name
// (mv) is not chased: its Unlink says the name is gone, removes nothing,
// and returns (open or closed).
func TestUnlinkOwnRenamedByHand(t *testing.T) {
	for _, closed := range []bool{false, true} {
		dir := t.TempDir()
		s, err := Create("grid", small, Dir(dir))
		require.NoError(t, err)
		require.NoError(t, os.Rename(filepath.Join(dir, "grid"), filepath.Join(dir, "moved")))
		if closed {
			require.NoError(t, s.Close())
		}
		require.ErrorIs(t, s.Unlink(), ErrNotExist)
		require.Equal(t, []string{"moved"}, dirNames(t, dir), "nothing removed")
		require.NoError(t, s.Close())
	}
}
