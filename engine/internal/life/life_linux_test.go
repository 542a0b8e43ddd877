//go:build linux

package life

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
)

// A process's life word holds the id of one of its threads while it lives
// and gets Died from the kernel when it exits, killed or not: a process
// that maps the word sees the death without waiting for the process.
func TestDiedIsSetWhenTheProcessExits(t *testing.T) {
	for _, how := range []string{"killed", "exits"} {
		t.Run(how, func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "life")
			require.NoError(t, err)
			defer f.Close()
			require.NoError(t, f.Truncate(int64(os.Getpagesize())))
			word, err := mapWord(f)
			require.NoError(t, err)

			c := testproc.Spawn(t, "arm", testproc.Files(f))
			c.Expect(t, "armed")
			v := word.Load()
			require.Zero(t, v&Died, "the process lives")
			_, err = os.Stat("/proc/" + strconv.Itoa(c.PID()) + "/task/" + strconv.Itoa(int(v)))
			require.NoError(t, err, "the word holds a thread id of the process")

			if how == "killed" {
				require.NoError(t, syscall.Kill(c.PID(), syscall.SIGKILL))
			} else {
				require.NoError(t, c.CloseStdin())
			}
			// Nothing here waits for the child: only the kernel can set Died.
			testproc.WaitFor(t, "the life word to show the death", func() bool { return word.Load()&Died != 0 })
			_, err = c.Wait()
			if how == "killed" {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
		})
	}
}
