//go:build linux

package chaos

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The runner counts each kind of problem, from real processes and files:
// a trial that hangs until its child is killed, one that leaves a
// process, a file or a descriptor behind, one that panics, one that
// reports a wrong result.

func init() {
	leakWait = 300 * time.Millisecond
	unstickWait = 10 * time.Second
}

func TestCounts(t *testing.T) {
	t.Setenv(EnvSeed, "42")
	t.Setenv(EnvTrials, "")
	var draws []int64
	var dirs []string
	sum, notes, err := runTrials(t, Scenario{
		Name: "chaos/each-kind", Trials: 8, Timeout: 2 * time.Second,
		Trial: func(tr *T) {
			draws = append(draws, tr.Rand.Int64())
			dirs = append(dirs, tr.Dir)
			require.Equal(t, tr.Dir, os.Getenv("SHMPAR_DIR"))
			require.Equal(t, tr.Marker, os.Getenv(EnvTrial))
			switch tr.N {
			case 0: // fine: a child that ends
				require.NoError(t, exec.Command("true").Run())
			case 1: // hangs until Run kills its child
				cmd := exec.Command("sleep", "60")
				require.NoError(t, cmd.Start())
				_ = cmd.Wait()
			case 2: // leaves its child running
				cmd := exec.Command("sleep", "60")
				require.NoError(t, cmd.Start())
				go cmd.Wait()
			case 3: // leaves a file
				require.NoError(t, os.WriteFile(filepath.Join(tr.Dir, "seg"), nil, 0o600))
			case 4: // leaves a descriptor open
				f, err := os.Open("/dev/null")
				require.NoError(t, err)
				t.Cleanup(func() { f.Close() })
			case 5:
				panic("boom")
			case 6:
				tr.Wrong("got %d, want %d", 1, 2)
			case 7: // a hang it saw itself
				tr.Hang("the call did not return within %v", time.Minute)
			}
			tr.Count("trials", 1)
			tr.Count("odd", tr.N%2)
		},
	})
	require.NoError(t, err)
	require.Equal(t, Summary{Name: "chaos/each-kind", Seed: 42, Trials: 8, Hangs: 2, Wrong: 1, Leaks: 3, Crash: 1, Elapsed: sum.Elapsed,
		Counts: map[string]int{"trials": 7, "odd": 3}}, sum, "%s", strings.Join(notes, "\n"))
	require.True(t, strings.HasSuffix(sum.Line(), " odd=3 trials=7"), sum.Line())
	require.True(t, sum.Problems())
	all := strings.Join(notes, "\n")
	for _, want := range []string{"trial 1 hung", "trial 2 leaked: processes", "trial 3 leaked: files left in the trial's directory: seg", "trial 4 leaked: descriptors", "/dev/null", "trial 5 crashed: panic: boom", "trial 6 wrong: got 1, want 2", "trial 7 hung: the call did not return within 1m0s"} {
		require.Contains(t, all, want)
	}
	require.Contains(t, sum.Line(), "trials=8 hangs=2 wrong=1 leaks=3 crashes=1 seed=42")
	for _, d := range dirs {
		require.NoDirExists(t, d, "trial directories are removed")
	}
	require.Empty(t, os.Getenv(EnvTrial), "the marker is unset after the run")

	// The same seed draws the same numbers; SHMPAR_CHAOS_TRIAL replays one.
	again := draws
	draws = nil
	t.Setenv(EnvOnly, "3")
	sum, _, err = runTrials(t, Scenario{Name: "chaos/each-kind", Trials: 8, Timeout: time.Second, Trial: func(tr *T) {
		draws = append(draws, tr.Rand.Int64())
	}})
	require.NoError(t, err)
	require.Equal(t, 1, sum.Trials)
	require.Equal(t, again[3:4], draws)
	require.False(t, sum.Problems())
}

func TestKnobs(t *testing.T) {
	t.Setenv(EnvTrials, "3")
	n := 0
	sum, _, err := runTrials(t, Scenario{Name: "chaos/knobs", Trials: 100, Timeout: time.Second, Trial: func(*T) { n++ }})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, 3, sum.Trials)
	t.Setenv(EnvTrials, "many")
	_, _, err = runTrials(t, Scenario{Name: "chaos/knobs", Trials: 1, Timeout: time.Second, Trial: func(*T) {}})
	require.ErrorContains(t, err, EnvTrials)
}

// Procs finds the processes started during a trial, and their children,
// by the marker they inherit.
func TestProcs(t *testing.T) {
	_, _, err := runTrials(t, Scenario{Name: "chaos/procs", Trials: 1, Timeout: 10 * time.Second, Trial: func(tr *T) {
		cmd := exec.Command("sh", "-c", "sleep 60 & wait")
		require.NoError(t, cmd.Start())
		var found []int
		for deadline := time.Now().Add(5 * time.Second); len(found) < 2 && time.Now().Before(deadline); {
			found = tr.Procs()
			time.Sleep(5 * time.Millisecond)
		}
		require.Len(t, found, 2, "the shell and its sleep")
		require.True(t, slices.Contains(found, cmd.Process.Pid))
		require.NotContains(t, found, os.Getpid())
		for _, pid := range found {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Wait()
	}})
	require.NoError(t, err)
}
