//go:build linux

package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmpar/shmpar/engine/internal/placement"
)

// internalNoop is the kernel these tests run: it does nothing.
var internalNoop = Register("internal-noop", func(c *Ctx, _ struct{}, lo, hi int) error { return nil })

// threadIDs returns the ids of the threads of process pid.
func threadIDs(t *testing.T, pid int) []int {
	t.Helper()
	paths, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	tids := make([]int, len(paths))
	for i, p := range paths {
		tids[i], err = strconv.Atoi(filepath.Base(p))
		require.NoError(t, err)
	}
	return tids
}

// setProcAffinity sets the affinity mask of every thread of process pid.
func setProcAffinity(t *testing.T, pid int, set *unix.CPUSet) {
	t.Helper()
	for _, tid := range threadIDs(t, pid) {
		if err := unix.SchedSetaffinity(tid, set); err != nil && !os.IsNotExist(err) && err != unix.ESRCH {
			t.Fatalf("set affinity of thread %d of worker %d: %v", tid, pid, err)
		}
	}
}

// procMasks returns the affinity masks of the threads of process pid.
func procMasks(t *testing.T, pid int) []unix.CPUSet {
	t.Helper()
	var masks []unix.CPUSet
	for _, tid := range threadIDs(t, pid) {
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) == nil {
			masks = append(masks, set)
		}
	}
	return masks
}

// lockThread locks the test's goroutine to its thread until the test ends
// and restores the thread's affinity mask then; it returns the mask.
func lockThread(t *testing.T) unix.CPUSet {
	t.Helper()
	runtime.LockOSThread()
	var own unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &own))
	t.Cleanup(func() {
		_ = unix.SchedSetaffinity(0, &own)
		runtime.UnlockOSThread()
	})
	return own
}

// pinTo binds the calling (locked) thread to cpu.
func pinTo(t *testing.T, cpu int) {
	t.Helper()
	var one unix.CPUSet
	one.Set(cpu)
	require.NoError(t, unix.SchedSetaffinity(0, &one))
}

// crowd pins the calling thread (the coordinator, which must be locked to
// it) to cpu and puts the worker process pid there too, running jobs on
// team meanwhile so that the worker's spinning thread is migrated; then it
// gives the worker its mask back. The worker is left sharing cpu with the
// coordinator, as the OS sometimes leaves it.
func crowd(t *testing.T, team *Team, pid, cpu int, mask *unix.CPUSet) {
	t.Helper()
	pinTo(t, cpu)
	var one unix.CPUSet
	one.Set(cpu)
	setProcAffinity(t, pid, &one)
	for range 1000 {
		require.NoError(t, internalNoop.For(context.Background(), team, 2, struct{}{}))
	}
	setProcAffinity(t, pid, mask)
}

// A worker process left on the coordinator's CPU, with another CPU free,
// moves itself off it, and leaves its affinity mask as it was.
func TestWorkerMovesOffCrowdedCPU(t *testing.T) {
	cpus := placement.Allowed()
	if len(cpus) < 2 {
		t.Skip("needs 2 CPUs: a worker crowded on the only CPU has nowhere to go")
	}
	team, err := Start(Workers(2), Primary(true))
	require.NoError(t, err)
	defer team.Close()
	pid := team.PIDs()[1]
	slot := &team.b.(*procTeam).c.slots[1]

	lockThread(t)
	mask := procMasks(t, pid)[0]

	crowd(t, team, pid, cpus[0], &mask)
	before := slot.moves.Load()
	deadline := time.Now().Add(20 * time.Second)
	for slot.moves.Load() == before && time.Now().Before(deadline) {
		require.NoError(t, internalNoop.For(context.Background(), team, 2, struct{}{}))
	}
	require.Greater(t, slot.moves.Load(), before, "the worker did not move off the coordinator's CPU in 20 s")
	for _, m := range procMasks(t, pid) {
		require.Equal(t, mask, m, "a move must leave the worker's affinity mask as it was")
	}
}

// A pinned worker stays on its CPU however crowded it is.
func TestPinnedWorkerStays(t *testing.T) {
	cpus := placement.Allowed()
	if len(cpus) < 2 {
		t.Skip("needs 2 CPUs to pin a worker to one of them")
	}
	team, err := Start(Workers(2), Primary(true), Pin(true))
	require.NoError(t, err)
	defer team.Close()
	pid := team.PIDs()[1]
	slot := &team.b.(*procTeam).c.slots[1]
	pinned := pinnedThreads(t, pid)
	require.Equal(t, []int{cpus[1]}, pinned, "worker 1 runs on a thread pinned to the second CPU")

	lockThread(t)
	pinTo(t, cpus[1]) // worker 1's CPU
	for t0 := time.Now(); time.Since(t0) < time.Second; {
		require.NoError(t, internalNoop.For(context.Background(), team, 2, struct{}{}))
	}
	require.Zero(t, slot.moves.Load())
	require.Equal(t, pinned, pinnedThreads(t, pid))
}

// pinnedThreads returns the CPUs of the threads of process pid that may run
// on one CPU only.
func pinnedThreads(t *testing.T, pid int) []int {
	var cpus []int
	for _, m := range procMasks(t, pid) {
		if m.Count() != 1 {
			continue
		}
		for c := range len(m) * 64 {
			if m.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
	}
	return cpus
}

// A worker woken on the CPU the coordinator woke it from moves; woken
// anywhere else, or when that CPU is unknown, it stays.
func TestLeaveCoordinator(t *testing.T) {
	cpus := placement.Allowed()
	lockThread(t)
	pinTo(t, cpus[0])
	require.Equal(t, cpus[0], placement.Current())

	moves := 0
	w := &worker{c: &control{h: &ctlHeader{}}, slot: &slot{}}
	w.crowd.Move = func() bool { moves++; return true }
	w.seen()
	for _, c := range []int32{-1, int32(cpus[0]) + 1, int32(cpus[0])} {
		w.c.h.coordCPU.Store(c)
		w.leaveCoordinator()
	}
	require.Equal(t, 1, moves, "only a worker on the coordinator's CPU moves")
}

// A crowded worker of a team whose coordinator runs chunks (Primary) does
// not move onto the coordinator's CPU: with two CPUs, one the worker's and
// one the coordinator's, it has nowhere to go and stays. Without a
// coordinator that runs chunks, it moves to the free CPU.
func TestMoveAwayAvoidsCoordinator(t *testing.T) {
	cpus := placement.Allowed()
	if len(cpus) < 2 {
		t.Skip("needs 2 CPUs")
	}
	lockThread(t)
	var two unix.CPUSet
	two.Set(cpus[0])
	two.Set(cpus[1])

	l := ctlLayout(2, 1, 4096)
	c, err := initControl(alignedBytes(int(l.size)), l)
	require.NoError(t, err)
	w := newWorker(workerEnv{idx: 1, cpu: -1}, c)
	c.slots[0].cpu.Store(-1)
	c.h.coordCPU.Store(int32(cpus[0]))
	require.Equal(t, []int{cpus[0]}, w.busyCPUs())
	// The thread is put on cpus[1] and given both CPUs back; the OS may
	// still migrate it onto cpus[0] before the move looks (more likely on
	// a loaded machine), and then it rightly moves off the coordinator's
	// CPU. Whatever it finds, it never moves onto it; until it is seen
	// staying on cpus[1], try again.
	stayed := false
	for range 100 {
		pinTo(t, cpus[1])
		require.NoError(t, unix.SchedSetaffinity(0, &two))
		from, to := placement.MoveTo(w.busyCPUs())
		require.NotEqual(t, cpus[0], to, "moved onto the coordinator's CPU (from %d)", from)
		if from == cpus[1] {
			require.Equal(t, -1, to, "the only other CPU is the coordinator's")
			stayed = true
			break
		}
	}
	require.True(t, stayed, "the thread never stayed on cpus[1] long enough to look")

	// A team without Primary: the coordinator's CPU is not a participant's.
	l = ctlLayout(2, 0, 4096)
	c, err = initControl(alignedBytes(int(l.size)), l)
	require.NoError(t, err)
	w = newWorker(workerEnv{idx: 1, cpu: -1}, c)
	c.slots[0].cpu.Store(-1)
	c.h.coordCPU.Store(int32(cpus[0]))
	require.Empty(t, w.busyCPUs())
	pinTo(t, cpus[1])
	require.NoError(t, unix.SchedSetaffinity(0, &two))
	require.True(t, w.moveAway(), "the other CPU is free, whichever it is")
	require.Equal(t, uint32(1), w.slot.moves.Load())
}

// A coordinator that runs chunks records its CPU for the workers every
// coordCPUEvery jobs.
func TestCoordinatorRecordsItsCPU(t *testing.T) {
	team, err := Start(Workers(2), Primary(true))
	require.NoError(t, err)
	defer team.Close()
	h := team.b.(*procTeam).h
	h.coordCPU.Store(-1)
	for range coordCPUEvery {
		require.NoError(t, internalNoop.For(context.Background(), team, 2, struct{}{}))
	}
	require.GreaterOrEqual(t, h.coordCPU.Load(), int32(0))
}
