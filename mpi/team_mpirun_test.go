//go:build mpi

package mpi

// Tests of one team per rank under mpirun: Reduce and For across ranks
// and workers, failures in a rank's workers, and a rank's coordinator
// killed outright.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/shm"
	"github.com/stretchr/testify/require"
)

const (
	workersVar = "SHMPAR_MPI_WORKERS" // the team size of each rank
	markVar    = "SHMPAR_MPI_MARK"    // a value every process of a job carries
)

// hybridN is the loop length of the hybrid tests: 62 chunks of Grain.
const hybridN = 1_000_003

func init() {
	roles["hybrid"] = roleHybrid
	roles["workerpanic"] = roleWorkerPanic
	roles["killcoord"] = roleKillCoord
	roles["placement"] = rolePlacement
}

// rolePlacement reports the team ShareNode gives this rank by default.
func rolePlacement() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	team, err := engine.Start(w.ShareNode(), engine.Goroutine)
	if err != nil {
		return fail("Start: %v", err)
	}
	rep := report{"workers": team.Workers(), "spin": int64(team.Spin()), "usable": engine.UsableCPUs()}
	if err := team.Close(); err != nil {
		return fail("Close: %v", err)
	}
	if err := Finalize(); err != nil {
		return fail("Finalize: %v", err)
	}
	if err := writeReport(w.Rank(), rep); err != nil {
		return fail("report: %v", err)
	}
	return 0
}

// TestPlacementUnderMpirun checks that the launcher's placement sets the
// team: mpirun --map-by ppr:R:node:PE=C gives each of R ranks a team of C
// that spins, and ranks that outnumber the CPUs, or are bound to none of
// them, get teams that never spin.
func TestPlacementUnderMpirun(t *testing.T) {
	type placement struct {
		np      int
		flags   []string
		workers int
		spin    bool
	}
	cpus := nodeCPUs()
	cases := []placement{
		{1, []string{"--map-by", fmt.Sprintf("ppr:1:node:PE=%d", cpus)}, cpus, true},
		{1, []string{"--map-by", "ppr:1:node:PE=1"}, 1, true},
		{2, []string{"--bind-to", "none"}, cpus, false},
		{cpus + 1, []string{"--oversubscribe"}, cpus, false},
	}
	if cpus >= 2 {
		cases = append(cases, placement{2, []string{"--map-by", fmt.Sprintf("ppr:2:node:PE=%d", cpus/2)}, cpus / 2, true})
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{fmt.Sprintf("np=%d", c.np)}, c.flags...), " "), func(t *testing.T) {
			reps := resultsFlags(t, c.np, append(c.flags, "--report-bindings"), "placement")
			for r, rep := range reps {
				require.EqualValues(t, c.workers, rep["workers"], "rank %d: %v", r, rep)
				require.EqualValues(t, c.workers, rep["usable"], "rank %d: %v", r, rep)
				require.Equal(t, c.spin, rep["spin"].(float64) > 0, "rank %d: %v", r, rep)
			}
		})
	}
}

// rankTeam initialises MPI and starts this rank's team of the size in
// workersVar, configured by ShareNode.
func rankTeam() (*Comm, *engine.Team, error) {
	w, err := Init()
	if err != nil {
		return nil, nil, err
	}
	workers, err := strconv.Atoi(os.Getenv(workersVar))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", workersVar, err)
	}
	team, err := engine.Start(w.ShareNode(), engine.Workers(workers))
	return w, team, err
}

// errKind says whose error err is: "own" for this rank's (a worker's
// error), "other" for ErrOtherRank, the text otherwise.
func errKind(err error) string {
	var we *engine.WorkerError
	switch {
	case errors.Is(err, ErrOtherRank):
		return "other"
	case errors.As(err, &we):
		return "own"
	case err == nil:
		return "nil"
	}
	return err.Error()
}

func roleHybrid() int {
	w, team, err := rankTeam()
	if err != nil {
		return fail("start: %v", err)
	}
	defer team.Close()
	ctx := context.Background()
	r := w.Rank()
	rep := report{"workers": team.Workers(), "spin": int64(team.Spin())}
	rep["nodeRank"], rep["nodeSize"] = w.Node()

	red, err := reductions(ctx, w, team, hybridN)
	if err != nil {
		return fail("reductions: %v", err)
	}
	rep["reductions"] = red

	// For runs exactly this rank's share.
	x, err := array.CreateAnon[float64](hybridN)
	if err != nil {
		return fail("array: %v", err)
	}
	defer x.Close()
	if err := For(ctx, w, team, kFill, hybridN, fillArgs{X: x, F: noFault()}); err != nil {
		return fail("For: %v", err)
	}
	lo, hi := w.Share(hybridN)
	rep["share"] = []int{lo, hi}
	if err := filled(x.Data(), lo, hi); err != nil {
		rep["filled"] = err.Error()
	} else {
		rep["filled"] = "ok"
	}

	// Failure on the last rank only (the index is in its share): every
	// rank returns, the last with its worker's error, the others with
	// ErrOtherRank, on each path of Reduce.
	failing := redArgs{Fail: hybridN - 1, Panic: -1, Coord: os.Getpid()}
	_, err = Reduce(ctx, w, team, kFsum, hybridN, failing, Sum)
	rep["failSum"] = errKind(err)
	_, err = Reduce(ctx, w, team, kFmin, hybridN, failing, Min)
	rep["failMin"] = errKind(err)
	_, err = Reduce(ctx, w, team, kFmax, hybridN, failing, Max)
	rep["failMax"] = errKind(err)
	_, err = Reduce(ctx, w, team, kIsum, hybridN, failing, Sum)
	rep["failInt"] = errKind(err)
	var mine error
	if r == 0 {
		mine = &engine.WorkerError{Kernel: "agree"}
	}
	rep["agree"] = errKind(w.Agree(mine))
	rep["agreeNone"] = errKind(w.Agree(nil))
	// And the team and the world still work after it.
	red2, err := reductions(ctx, w, team, hybridN)
	if err != nil {
		return fail("reductions after the failures: %v", err)
	}
	rep["again"] = red2["fsum"] == red["fsum"] && red2["fmax/nan"] == red["fmax/nan"]

	if err := Finalize(); err != nil {
		return fail("Finalize: %v", err)
	}
	if err := writeReport(r, rep); err != nil {
		return fail("report: %v", err)
	}
	return 0
}

// roleWorkerPanic panics in a worker of the last rank's team during a
// For, and handles the error as a program does: print it and exit
// non-zero, without Finalize, so that mpirun ends the other ranks.
func roleWorkerPanic() int {
	w, team, err := rankTeam()
	if err != nil {
		return fail("start: %v", err)
	}
	defer team.Close()
	x, err := array.CreateAnon[float64](hybridN)
	if err != nil {
		return fail("array: %v", err)
	}
	defer x.Close()
	a := fillArgs{X: x, F: redArgs{Fail: -1, Panic: hybridN - 1, Coord: os.Getpid()}}
	if err := For(context.Background(), w, team, kFill, hybridN, a); err != nil {
		var we *engine.WorkerError
		if errors.As(err, &we) {
			fmt.Fprintf(os.Stderr, "rank %d: %v\n%s", w.Rank(), err, we.Stack)
		} else {
			fmt.Fprintf(os.Stderr, "rank %d: %v\n", w.Rank(), err)
		}
		return 1
	}
	if err := w.Barrier(); err != nil { // the others wait here until mpirun ends them
		return fail("Barrier: %v", err)
	}
	return fail("rank %d passed a barrier that the last rank never reached", w.Rank())
}

// roleKillCoord gives each rank a team of worker processes busy in a
// kernel, and a named array in SHMPAR_DIR; then a worker of the last rank
// SIGKILLs its own coordinator, as the OOM killer would.
func roleKillCoord() int {
	w, team, err := rankTeam()
	if err != nil {
		return fail("start: %v", err)
	}
	defer team.Close()
	x, err := array.Create[float64](fmt.Sprintf("killcoord-%d", w.Rank()), hybridN)
	if err != nil {
		return fail("array: %v", err)
	}
	ids := []proc.ID{proc.Self()}
	for _, pid := range team.PIDs() {
		start, err := proc.StartTime(pid)
		if err != nil {
			return fail("worker %d: %v", pid, err)
		}
		ids = append(ids, proc.ID{PID: pid, Start: start})
	}
	if err := writeReport(w.Rank(), report{"processes": ids}); err != nil {
		return fail("report: %v", err)
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	a := busyArgs{X: x, Kill: w.Rank() == w.Size()-1, Coord: os.Getpid()}
	err = kBusy.For(context.Background(), team, team.Workers(), a, engine.Dynamic(1))
	return fail("rank %d: For returned: %v", w.Rank(), err)
}

type busyArgs struct {
	X     *array.Array[float64]
	Kill  bool
	Coord int
}

// kBusy keeps a worker busy until its job stops or its process dies; on
// the rank whose Kill is set, the first worker kills the coordinator.
var kBusy = engine.Register("mpi-test/busy", func(ctx *engine.Ctx, a busyArgs, lo, hi int) error {
	a.X.Data()[lo] = 1
	if a.Kill && lo == 0 && os.Getpid() != a.Coord {
		if err := syscall.Kill(a.Coord, syscall.SIGKILL); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	return ctx.Err()
}, engine.StallLimit(-1))

// TestReduceBitwiseAcrossRanksAndWorkers runs every kind of reduction on
// 1, 2 and 3 ranks with teams of 1 and 2 workers, and requires every
// result on every rank to have the bits of the serial reference.
func TestReduceBitwiseAcrossRanksAndWorkers(t *testing.T) {
	want := serialReductions(t, hybridN)
	for _, np := range []int{1, 2, 3} {
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("np=%d/workers=%d", np, workers), func(t *testing.T) {
				reps := results(t, np, "hybrid", fmt.Sprintf("%s=%d", workersVar, workers))
				at := 0
				for r, rep := range reps {
					name := fmt.Sprintf("np=%d workers=%d rank %d", np, workers, r)
					got := map[string]string{}
					for k, v := range rep["reductions"].(map[string]any) {
						got[k] = v.(string)
					}
					require.Equal(t, want, got, name)
					require.EqualValues(t, workers, rep["workers"], name)
					require.Equal(t, oversubscribed(np, workers, nodeCPUs()), rep["spin"].(float64) < 0, "%s: spin %v", name, rep["spin"])
					require.EqualValues(t, np, rep["nodeSize"], name)
					require.EqualValues(t, r, rep["nodeRank"], name)

					share := rep["share"].([]any)
					require.EqualValues(t, at, share[0], name)
					at = int(share[1].(float64))
					require.Equal(t, "ok", rep["filled"], name)

					own := "other"
					if r == np-1 {
						own = "own"
					}
					for _, k := range []string{"failSum", "failMin", "failMax", "failInt"} {
						require.Equal(t, own, rep[k], "%s: %s", name, k)
					}
					agree := "other"
					if r == 0 {
						agree = "own"
					}
					require.Equal(t, agree, rep["agree"], name)
					require.Equal(t, "nil", rep["agreeNone"], name)
					require.Equal(t, true, rep["again"], name)
				}
				require.Equal(t, hybridN, at, "the shares cover [0, n)")
			})
		}
	}
}

// TestWorkerPanicUnderMpirun checks that a panic in a worker process of a
// rank's team reaches that rank's coordinator as Go's error, with the
// panic value and the worker's stack, and that the job then ends.
func TestWorkerPanicUnderMpirun(t *testing.T) {
	out, _, err := mpirun(t, 3, "workerpanic", workersVar+"=2")
	require.Error(t, err, "the job must fail:\n%s", out)
	require.Regexp(t, `rank 2: kernel "mpi-test/fill": worker \d+ \(pid \d+\) chunk \[\d+, 1000003\): panic: test panic in the chunk`, out)
	require.Contains(t, out, "mpi.redArgs.fault", "the worker's stack:\n%s", out)
	require.NotContains(t, out, "passed a barrier", "output:\n%s", out)
	require.NotContains(t, out, "Process received signal", "Open MPI's handler ran:\n%s", out)
	require.NotContains(t, out, "MPI_ABORT", "output:\n%s", out)
}

// TestKillCoordinatorUnderMpirun SIGKILLs a rank's coordinator while every
// rank's workers run a kernel: the job ends, no process of the job is
// left (every process carries a marker in its environment, which a scan
// of /proc looks for), and the private segment directory holds only the
// ranks' own named arrays, which Sweep removes since their creators are
// dead.
func TestKillCoordinatorUnderMpirun(t *testing.T) {
	dir := t.TempDir()
	mark := fmt.Sprintf("killcoord-%d-%d", os.Getpid(), time.Now().UnixNano())
	// The scan finds a process that carries the mark.
	probe := exec.Command("sleep", "60")
	probe.Env = append(os.Environ(), markVar+"="+mark)
	require.NoError(t, probe.Start())
	require.Equal(t, []int{probe.Process.Pid}, marked(mark))
	require.NoError(t, probe.Process.Kill())
	_ = probe.Wait()
	require.Empty(t, marked(mark))

	const np = 3
	out, reports, err := mpirun(t, np, "killcoord", workersVar+"=2", "SHMPAR_DIR="+dir, markVar+"="+mark)
	require.Error(t, err, "output:\n%s", out)
	require.Regexp(t, `process rank 2 .* exited on signal 9`, out)
	require.NotContains(t, out, "For returned", "output:\n%s", out)

	var ids []proc.ID
	for r := range np {
		b, err := os.ReadFile(filepath.Join(reports, fmt.Sprintf("rank-%d.json", r)))
		require.NoError(t, err, "rank %d wrote no report; output:\n%s", r, out)
		var rep struct{ Processes []proc.ID }
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Len(t, rep.Processes, 3, "rank %d: the coordinator and two workers", r)
		ids = append(ids, rep.Processes...)
	}
	// Workers die with their coordinator (a parent-death signal), a little
	// after it: wait for that, bounded.
	deadline := time.Now().Add(20 * time.Second)
	var left []int
	for {
		left = marked(mark)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Empty(t, left, "processes of the job still alive (its coordinators and workers were %v)", ids)
	for _, id := range ids {
		alive, err := proc.Alive(id)
		require.NoError(t, err)
		require.False(t, alive, "process %v", id)
	}

	infos, err := shm.List(shm.Dir(dir))
	require.NoError(t, err)
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
		require.False(t, in.Alive, "%s: its creator is dead", in.Name)
	}
	require.ElementsMatch(t, []string{"killcoord-0", "killcoord-1", "killcoord-2"}, names)
	swept, err := shm.Sweep(shm.Dir(dir))
	require.NoError(t, err)
	require.Len(t, swept, np)
	rest, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, rest, "nothing else in the segment directory")
}

// marked returns the pids of the processes whose environment holds
// markVar=mark.
func marked(mark string) []int {
	ents, _ := os.ReadDir("/proc")
	want := []byte(markVar + "=" + mark + "\x00")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if strings.Contains(string(b)+"\x00", string(want)) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie.Match(st) {
				continue // exited; only its parent's wait is missing
			}
			out = append(out, pid)
		}
	}
	return out
}

// zombie matches the stat line of a process that has exited.
var zombie = regexp.MustCompile(`\) Z `)
