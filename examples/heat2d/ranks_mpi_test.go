//go:build mpi

package main

// The distributed heat2d under mpirun, with real ranks: the test binary is
// launched by mpirun in the role "main" (heat2d's main with the arguments
// in envArgs), over TCP on loopback as between nodes.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// mpirunHeat runs heat2d on np ranks with args and env, and returns the
// job's output and error.
func mpirunHeat(t testing.TB, np int, env []string, args ...string) (string, error) {
	t.Helper()
	return mpirunHeatFlags(t, np, nil, env, args...)
}

// mpirunHeatFlags is mpirunHeat with more flags for mpirun (binding).
func mpirunHeatFlags(t testing.TB, np int, flags, env []string, args ...string) (string, error) {
	t.Helper()
	env = append(env, "SHMPAR_TEST_CHILD=main", envArgs+"="+strings.Join(args, " "))
	return testproc.Mpirun(t, fmt.Sprintf("heat2d %v", args), np, flags, env)
}

var doneLine = regexp.MustCompile(`(?m)^done: step (\d+), (\d+)×(\d+), [0-9.]+s, checksum ([0-9a-f]{16})$`)

// done runs heat2d on np ranks, requires it to succeed with one done line,
// and returns that line's step and checksum.
func done(t *testing.T, np int, env []string, args ...string) (int, string, string) {
	t.Helper()
	out, err := mpirunHeat(t, np, env, args...)
	require.NoError(t, err, "mpirun -np %d heat2d %v:\n%s", np, args, out)
	m := doneLine.FindAllStringSubmatch(out, -1)
	require.Len(t, m, 1, "one done line, from rank 0:\n%s", out)
	step, _ := strconv.Atoi(m[0][1])
	return step, m[0][4], out
}

func checksumOf(u []float64) string { return fmt.Sprintf("%016x", Checksum(u)) }

// TestRanksEqualSerial checks the distributed checksum against the serial
// code's for 1, 2 and 3 ranks with teams of 1 and 2 workers, and for
// three ranks of one row each.
func TestRanksEqualSerial(t *testing.T) {
	for _, c := range []struct{ n, steps int }{{67, 50}, {3, 5}} {
		want := checksumOf(Serial(c.n, c.steps))
		for _, np := range []int{1, 2, 3} {
			for _, workers := range []int{1, 2} {
				if c.n == 3 && (np != 3 || workers != 2) {
					continue
				}
				t.Run(fmt.Sprintf("n=%d/np=%d/workers=%d", c.n, np, workers), func(t *testing.T) {
					step, sum, out := done(t, np, nil, "-dir", t.TempDir(), "-n", strconv.Itoa(c.n),
						"-steps", strconv.Itoa(c.steps), "-workers", strconv.Itoa(workers), "-every", "10")
					require.Equal(t, c.steps, step)
					require.Equal(t, want, sum, "output:\n%s", out)
					if np > 1 {
						require.Contains(t, out, fmt.Sprintf("ranks: %d × %d workers, %d steps:", np, workers, c.steps))
					}
				})
			}
		}
	}
	t.Run("serial backend", func(t *testing.T) {
		_, sum, _ := done(t, 3, nil, "-dir", t.TempDir(), "-n", "67", "-steps", "50", "-backend", "serial")
		require.Equal(t, checksumOf(Serial(67, 50)), sum)
	})
}

// TestRanksProgressEqualsSerial checks that the progress lines of a
// distributed run (an exact mean over the slabs, the centre from its
// rank) are the single process's.
func TestRanksProgressEqualsSerial(t *testing.T) {
	lines := regexp.MustCompile(`(?m)^step \d+/\d+ .*$`)
	code, out, errOut := heat2d(t, "-dir", t.TempDir(), "-n", "67", "-steps", "40", "-every", "10", "-backend", "serial")
	require.Zero(t, code, errOut)
	serial := lines.FindAllString(out, -1)
	require.Len(t, serial, 4)
	_, _, dist := done(t, 3, nil, "-dir", t.TempDir(), "-n", "67", "-steps", "40", "-every", "10")
	require.Equal(t, serial, lines.FindAllString(dist, -1))
}

// slabFile opens rank r's files of an np-rank checkpoint in dir.
func slabFile(t *testing.T, dir string, r, np int) (*array.Array[float64], *value.Value[int64]) {
	t.Helper()
	name := fmt.Sprintf("heat.rank%dof%d", r, np)
	g, err := array.Open[float64](name, shm.Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { g.Close() })
	c, err := value.Open[int64](stepName(name), shm.Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return g, c
}

// TestRanksKillMidStepAndResume kills rank 1's coordinator in the middle
// of step 30 (its worker scribbles NaN over part of the rows it writes,
// then SIGKILLs it); mpirun ends the other ranks; the resumed run, with
// the same number of ranks, ends with the serial checksum.
func TestRanksKillMidStepAndResume(t *testing.T) {
	const np, n, steps = 3, 67, 60
	dir := t.TempDir()
	env := []string{"HEAT2D_TEST_KILL_STEP=30", "HEAT2D_TEST_KILL_RANK=1"}
	out, err := mpirunHeat(t, np, env, "-dir", dir, "-n", strconv.Itoa(n), "-steps", strconv.Itoa(steps), "-workers", "2")
	require.Error(t, err, "output:\n%s", out)
	require.Regexp(t, `process rank 1 .* exited on signal 9`, out)
	require.NotContains(t, out, "done:")
	var counters []int64
	for r := range np {
		_, c := slabFile(t, dir, r, np)
		counters = append(counters, c.Load())
	}
	require.EqualValues(t, 30, counters[1], "rank 1 died during step 30")
	t.Logf("step counters after the kill: %v", counters)

	step, sum, out := done(t, np, nil, "-dir", dir, "-steps", strconv.Itoa(steps), "-resume")
	require.Equal(t, steps, step)
	require.Equal(t, checksumOf(Serial(n, steps)), sum, "output:\n%s", out)
	require.Contains(t, out, "resuming "+dir+"/heat.rank*of3 at step 30 of 60")
}

// TestRanksResumeStaggered resumes a checkpoint whose ranks stopped at
// different steps, as a kill can leave it: ranks 0 and 2 have done step
// 20, rank 1 has not (they were waiting for its rows of step 21). The run
// goes on from step 20; ranks 0 and 2 only exchange rows until rank 1 has
// caught up.
func TestRanksResumeStaggered(t *testing.T) {
	const np, n, steps = 3, 67, 40
	dir := t.TempDir()
	step, _, _ := done(t, np, nil, "-dir", dir, "-n", strconv.Itoa(n), "-steps", "20", "-workers", "1")
	require.Equal(t, 20, step)
	// Step 20 of ranks 0 and 2, by hand, from the state the files hold.
	grids, counters := make([]*array.Array[float64], np), make([]*value.Value[int64], np)
	for r := range np {
		grids[r], counters[r] = slabFile(t, dir, r, np)
	}
	for _, r := range []int{0, 2} {
		s := slabOf(n, r, np)
		src, dst := s.buffers(grids[r].Data(), 0)
		if r > 0 {
			nb := slabOf(n, r-1, np)
			above, _ := nb.buffers(grids[r-1].Data(), 0)
			copy(src[:n], above[nb.rows()*n:(nb.rows()+1)*n])
		}
		if r < np-1 {
			nb := slabOf(n, r+1, np)
			below, _ := nb.buffers(grids[r+1].Data(), 0)
			copy(src[(s.rows()+1)*n:], below[n:2*n])
		}
		SlabRows(dst, src, n, s.r0, s.r0, s.r1)
		counters[r].Store(21)
	}
	step, sum, out := done(t, np, nil, "-dir", dir, "-steps", strconv.Itoa(steps), "-resume", "-every", "10", "-workers", "1")
	require.Equal(t, steps, step)
	require.Equal(t, checksumOf(Serial(n, steps)), sum, "output:\n%s", out)
	require.Contains(t, out, "at step 20 of 40")
	require.Contains(t, out, "ranks: 3 × 1 workers, 20 steps:")
}

// TestRanksResumeWithOtherRanks checks that a checkpoint is resumed only
// with the number of ranks that wrote it, with an error that says which.
func TestRanksResumeWithOtherRanks(t *testing.T) {
	dir := t.TempDir()
	done(t, 3, nil, "-dir", dir, "-n", "31", "-steps", "10")
	for _, np := range []int{1, 2} {
		out, err := mpirunHeat(t, np, nil, "-dir", dir, "-steps", "20", "-resume")
		require.Error(t, err, "output:\n%s", out)
		require.Contains(t, out, "checkpoint written by another number of ranks: heat in "+dir+" was written by 3 ranks (mpirun -np 3), and this run has "+strconv.Itoa(np), "np=%d:\n%s", np, out)
	}
	// Still resumable as written.
	step, sum, _ := done(t, 3, nil, "-dir", dir, "-steps", "20", "-resume")
	require.Equal(t, 20, step)
	require.Equal(t, checksumOf(Serial(31, 20)), sum)

	single := t.TempDir()
	done(t, 1, nil, "-dir", single, "-n", "31", "-steps", "10")
	out, err := mpirunHeat(t, 2, nil, "-dir", single, "-steps", "20", "-resume")
	require.Error(t, err, "output:\n%s", out)
	require.Contains(t, out, "was written by a single process (no mpirun, or mpirun -np 1), and this run has 2")

	// Nothing to resume at all, and a new run over an existing one.
	out, err = mpirunHeat(t, 2, nil, "-dir", t.TempDir(), "-steps", "20", "-resume")
	require.Error(t, err)
	require.Contains(t, out, "heat.rank0of2")
	out, err = mpirunHeat(t, 3, nil, "-dir", dir, "-n", "31", "-steps", "20")
	require.Error(t, err)
	require.Contains(t, out, "continue it with -resume, or pass -force to replace it")
	step, sum, _ = done(t, 3, nil, "-dir", dir, "-n", "31", "-steps", "5", "-force")
	require.Equal(t, 5, step)
	require.Equal(t, checksumOf(Serial(31, 5)), sum)
}

var doneSecs = regexp.MustCompile(`(?m)^done: .*, ([0-9.]+)s, checksum`)

var ranksLine = regexp.MustCompile(`(?m)^ranks: \d+ × \d+ workers, \d+ steps: ([0-9.]+) µs/step, halo exchange ([0-9.]+) µs/step`)

// BenchmarkRanksStep measures heat2d's time per step on R = 1, 2, 3 ranks
// (TCP on loopback, as between nodes) with teams of 1 and 2 workers, the
// ranks not bound (--bind-to none: mpirun -np 1 and 2 would bind each rank
// to one core, and a team of 2 would share it), each
// iteration is one mpirun job of heatSteps steps on an heatN×heatN grid.
// us/step is the step loop's time (the slowest rank's) ÷ steps, without the
// launch; halo-us/step the part of it spent in the two Sendrecv of the
// halo exchange, including the wait for a slower neighbour; ns/op is the
// whole job with mpirun's launch. Run it with a fixed count, under the
// bench lock:
//
//	flock /work/.bench.lock go test -tags mpi -run '^$' -bench RanksStep -benchtime 3x ./examples/heat2d/
func BenchmarkRanksStep(b *testing.B) {
	const heatN, heatSteps = 2048, 100
	for _, np := range []int{1, 2, 3} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("n=%d/ranks=%d/workers=%d", heatN, np, workers), func(b *testing.B) {
				var step, halo float64
				iters := 0
				for b.Loop() {
					dir := b.TempDir()
					out, err := mpirunHeatFlags(b, np, []string{"--bind-to", "none"}, nil, "-dir", dir, "-n", strconv.Itoa(heatN), "-steps", strconv.Itoa(heatSteps),
						"-workers", strconv.Itoa(workers))
					if err != nil {
						b.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
					}
					m := doneLine.FindStringSubmatch(out)
					if m == nil {
						b.Fatalf("no done line:\n%s", out)
					}
					t, _ := strconv.ParseFloat(doneSecs.FindStringSubmatch(out)[1], 64)
					step += t * 1e6 / heatSteps
					if np > 1 {
						r := ranksLine.FindStringSubmatch(out)
						if r == nil {
							b.Fatalf("no ranks line:\n%s", out)
						}
						h, _ := strconv.ParseFloat(r[2], 64)
						halo += h
					}
					iters++
				}
				b.ReportMetric(step/float64(iters), "us/step")
				b.ReportMetric(halo/float64(iters), "halo-us/step")
			})
		}
	}
}
