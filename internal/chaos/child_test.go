//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
)

func TestMain(m *testing.M) {
	testproc.Main(m, func(role string) error {
		switch role {
		case "say":
			fmt.Println("first\nok 3 made")
			return nil
		case "fail":
			return errors.New("it broke")
		case "sleep":
			time.Sleep(time.Minute)
			return nil
		}
		return fmt.Errorf("no role %q", role)
	})
}

// kinds returns the problems a trial recorded, by kind.
func kinds(t *T) string {
	return fmt.Sprintf("hang=%d wrong=%d leak=%d crash=%d", len(t.hang), len(t.wrong), len(t.leak), len(t.crash))
}

// The shared checks of trials that run children, each against a real
// child process: one that ends well, one that fails, one that never ends.
func TestFinished(t *testing.T) {
	tr := &T{tb: t}
	out, ok := tr.Finished(testproc.Start("say"), 20*time.Second, "say")
	require.True(t, ok)
	require.Equal(t, "first\nok 3 made\n", out)
	require.Equal(t, "hang=0 wrong=0 leak=0 crash=0", kinds(tr))

	_, ok = tr.Finished(testproc.Start("fail"), 20*time.Second, "fail")
	require.False(t, ok)
	require.Equal(t, "hang=0 wrong=0 leak=0 crash=1", kinds(tr))
	require.Contains(t, tr.crash[0], "it broke")

	start := time.Now()
	_, ok = tr.Finished(testproc.Start("sleep"), 300*time.Millisecond, "sleeper")
	require.False(t, ok)
	require.Less(t, time.Since(start), 30*time.Second, "the child was killed at the bound")
	require.Equal(t, "hang=1 wrong=0 leak=0 crash=1", kinds(tr))
	require.Contains(t, tr.hang[0], "sleeper: no end within 300ms")
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"ok\n", "hang=0 wrong=0 leak=0 crash=0"},
		{"noise\nok 12 EMFILE\n", "hang=0 wrong=0 leak=0 crash=0"},
		{"okay\n", "hang=0 wrong=1 leak=0 crash=0"},
		{"ok\nwrong: lost 3\n", "hang=0 wrong=1 leak=0 crash=0"},
		{"", "hang=0 wrong=1 leak=0 crash=0"},
		{"leak: worker 7 alive\n", "hang=0 wrong=0 leak=1 crash=0"},
		{"hang: Map did not return\n", "hang=1 wrong=0 leak=0 crash=0"},
	} {
		tr := &T{tb: t}
		tr.Verdict(c.out, "child")
		require.Equal(t, c.want, kinds(tr), "%q", c.out)
	}
}

func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"m", "ctl", "stray"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o600))
	}
	tr := &T{tb: t}
	tr.Leftovers(dir, "trial", "m", "ctl")
	require.Equal(t, "hang=0 wrong=0 leak=1 crash=0", kinds(tr))
	require.Contains(t, tr.leak[0], `"stray" left in the directory`)
	tr.Leftovers(filepath.Join(dir, "none"), "trial")
	require.Equal(t, "hang=0 wrong=0 leak=2 crash=0", kinds(tr))
}

func TestUntil(t *testing.T) {
	tr := &T{tb: t}
	n := 0
	require.True(t, tr.Until("n to reach 3", time.Second, func() bool { n++; return n >= 3 }))
	require.False(t, tr.Until("never", 10*time.Millisecond, func() bool { return false }))
	require.Equal(t, "hang=1 wrong=0 leak=0 crash=0", kinds(tr))
	require.True(t, strings.HasSuffix(tr.hang[0], "for never"), tr.hang[0])
}
