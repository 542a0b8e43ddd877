//go:build mpi

package main

// shmbench across ranks, under mpirun with real ranks: the test binary is
// launched by mpirun in the role "main" (shmbench's main with the
// arguments in envArgs), over TCP on loopback as between nodes. Each rank
// writes its stdout to a file of its own.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
)

// mpirunBench runs shmbench on np ranks with args and returns the job's
// combined output (stderr of every rank, and mpirun's), each rank's
// stdout, and the job's error.
func mpirunBench(t *testing.T, np int, args string) (string, []string, error) {
	t.Helper()
	stdout := filepath.Join(t.TempDir(), "stdout")
	env := []string{"SHMPAR_TEST_CHILD=main", envArgs + "=" + args, envStdout + "=" + stdout}
	b, err := testproc.Mpirun(t, "shmbench "+args, np, nil, env)
	outs := make([]string, np)
	for r := range np {
		o, rerr := os.ReadFile(stdout + ".rank" + strconv.Itoa(r))
		require.NoError(t, rerr, "rank %d wrote no stdout; output:\n%s", r, b)
		outs[r] = string(o)
	}
	return b, outs, err
}

// TestRanksTable runs every kernel across 2 and 3 ranks × 1 and 2 workers
// per rank: rank 0 prints one table with a ranks column, every row of
// every number of ranks is verified (the stencil's rows on ranks past the
// first depend on the halo rows their neighbours send), and the other
// ranks print nothing.
func TestRanksTable(t *testing.T) {
	for _, np := range []int{2, 3} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			out, outs, err := mpirunBench(t, np, "-workers 1,2 -reps 2 -backend process,serial -impl all -format json "+small)
			require.NoError(t, err, "output:\n%s", out)
			for r := 1; r < np; r++ {
				require.Empty(t, outs[r], "rank %d prints nothing", r)
			}
			var rows []map[string]any
			require.NoError(t, json.Unmarshal([]byte(outs[0]), &rows), "rank 0's output:\n%s", outs[0])
			seen := map[string]bool{}
			for _, r := range rows {
				require.Equal(t, true, r["verified"], "row %v", r)
				ranks := int(r["ranks"].(float64))
				require.True(t, ranks >= 1 && ranks <= np, "row %v", r)
				require.NotNil(t, r["speedup"], "row %v", r)
				seen[fmt.Sprintf("%s %s %v %d", r["kernel"], r["backend"], r["workers"], ranks)] = true
			}
			ranks := []int{1, 2}
			if np == 3 {
				ranks = append(ranks, 3)
			}
			for _, k := range []string{"sum/go", "sum/vec", "dot/vec", "triad/vec", "stencil/go", "stencil/vec", "mandelbrot", "nbody", "empty"} {
				for _, r := range ranks {
					for _, p := range []string{"process 1", "process 2", "serial 1"} {
						require.True(t, seen[fmt.Sprintf("%s %s %d", k, p, r)], "no row %s %s ranks=%d in\n%s", k, p, r, outs[0])
					}
				}
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		out, outs, err := mpirunBench(t, 2, "-kernel triad,sum -workers 1,2 -reps 1 -backend process "+small)
		require.NoError(t, err, "output:\n%s", out)
		require.Empty(t, outs[1])
		require.Contains(t, outs[0], "across 2 MPI ranks")
		require.Regexp(t, `(?m)^\s*kernel\s+backend\s+ranks\s+workers\s+n`, outs[0])
		require.Regexp(t, `(?m)^\s*triad/vec\s+process\s+2\s+2\s+`, outs[0])
		require.Contains(t, outs[0], "efficiency: speedup ÷ (ranks × workers)")
	})
}

// TestRanksFault makes kernels compute a wrong answer in the last rank's
// part (the kernel is told where: Config.Fault across ranks goes wrong in
// the first chunk of the last rank's block): on 1 rank that is rank 0's
// part, and rank 0 finds it itself. On 2 and 3 ranks, for the kernels
// whose outputs stay where they are computed, only the last rank's own
// check can find it, and rank 0 reports that another rank failed; the
// stencil's wrong value reaches rank 0's rows through the halo in a few
// sweeps on 2 ranks, and a wrong sum is every rank's. The faulty kernels'
// rows fail on every number of ranks, with status 2, and the others pass.
func TestRanksFault(t *testing.T) {
	for _, k := range []string{"stencil", "triad", "sum", "mandelbrot", "nbody", "empty"} {
		t.Run(k, func(t *testing.T) {
			out, outs, err := mpirunBench(t, 3, "-kernel copy,"+k+" -workers 2 -reps 1 -backend process -format csv -inject-fault "+k+" "+small)
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "output:\n%s", out)
			require.Regexp(t, `FAILED `+k+`\S* 1×process/2: .*(differs from the serial reference|injected fault)`, out)
			for _, r := range []int{2, 3} {
				why := "failed on another rank"
				if k == "sum" || (k == "stencil" && r == 2) {
					why = "differs from the serial reference"
				}
				require.Regexp(t, fmt.Sprintf(`FAILED %s\S* %d×process/2: .*%s`, k, r, why), out)
			}
			lines := strings.Split(strings.TrimSpace(outs[0]), "\n")
			require.Len(t, lines, 1+2*3, outs[0])
			for _, l := range lines[1:] {
				f := strings.Split(l, ",")
				require.Equal(t, strconv.FormatBool(strings.HasPrefix(f[0], "copy")), f[len(f)-2], "row %q", l)
			}
		})
	}
}

// TestRanksBadFlags checks the flags that depend on the job.
func TestRanksBadFlags(t *testing.T) {
	out, _, err := mpirunBench(t, 2, "-kernel sum -ranks 3 "+small)
	require.Error(t, err)
	require.Contains(t, out, "-ranks [3]: more ranks than the job's 2")
	out, _, err = mpirunBench(t, 2, "-kernel sum -plot x.svg "+small)
	require.Error(t, err)
	require.Contains(t, out, "the plot has workers on its axis")
}
