//go:build !mpi

package mpi

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	engine.Main() // the teams of the Reduce and For tests
	testproc.Main(m, func(role string) error {
		switch role {
		case "abort":
			w, err := Init()
			if err != nil {
				return err
			}
			return fmt.Errorf("Abort returned: %v", w.Abort(3))
		}
		return fmt.Errorf("unknown role %q", role)
	})
}

// TestSingleRankAbort checks that Abort in the single-rank build ends the
// process with the code and says so.
func TestSingleRankAbort(t *testing.T) {
	out, err := testproc.Start("abort").Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "output:\n%s", out)
	require.Equal(t, 3, exit.ExitCode(), "output:\n%s", out)
	require.Contains(t, out, "mpi: Abort(3) on the only rank")
	require.NotContains(t, out, "Abort returned")
}
