//go:build chaos && mpi

package main

// The chaos scenario of the distributed heat2d: a process of a running
// job — a rank's coordinator or one of its team's workers, picked at
// random — is SIGKILLed at a random moment. The job must end (no hang), no
// process of it may outlive it, the trial's SHMPAR_DIR must be empty, and
// the checkpoint, resumed with the same number of ranks, must end with the
// serial run's checksum.
//
//	go test -tags chaos,mpi -run TestChaos ./examples/heat2d/

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/chaos"
)

// chaosN and chaosSteps size the run: long enough (with -delay) for a
// kill to land mid-run, short enough for many trials.
const chaosN, chaosSteps = 96, 300

func TestChaosKillRankProcess(t *testing.T) {
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mpirun not found, and CI must run the MPI tests: %v", err)
		}
		t.Skip("mpirun not found: apt-get install openmpi-bin libopenmpi-dev")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := checksumOf(Serial(chaosN, chaosSteps))
	chaos.Run(t, chaos.Scenario{
		Name:    "heat2d/kill-rank-process",
		Trials:  12,
		Timeout: 90 * time.Second,
		Trial: func(tr *chaos.T) {
			np := 2 + tr.Rand.IntN(2)
			workers := 1 + tr.Rand.IntN(2)
			base, err := os.MkdirTemp("", "heat2d-chaos-")
			if err != nil {
				tr.Crash("temp dir: %v", err)
				return
			}
			defer os.RemoveAll(base)
			ck := filepath.Join(base, "ck") // the checkpoint; the jobs' outputs beside it
			args := []string{"-dir", ck, "-n", strconv.Itoa(chaosN), "-steps", strconv.Itoa(chaosSteps),
				"-workers", strconv.Itoa(workers), "-every", "0", "-delay", "1ms"}
			job := startJob(mpirun, self, base, np, args)

			// Wait for every rank's coordinator, and in three trials of
			// four for every rank's checkpoint, then kill one process of
			// the ranks at a random moment.
			early := tr.Rand.IntN(4) == 0
			for t0 := time.Now(); !job.exited() && time.Since(t0) < 20*time.Second; time.Sleep(5 * time.Millisecond) {
				coords := 0
				for _, v := range rankProcs(tr) {
					if !v.worker {
						coords++
					}
				}
				if coords == np && (early || checkpointed(ck, np)) {
					break
				}
			}
			time.Sleep(tr.Duration(400 * time.Millisecond))
			victims := rankProcs(tr)
			killed, before := false, !checkpointed(ck, np)
			if len(victims) > 0 {
				v := victims[tr.Rand.IntN(len(victims))]
				if syscall.Kill(v.pid, syscall.SIGKILL) == nil {
					killed = true
					tr.Logf("np=%d workers=%d: killed pid %d (worker %v) of %v, checkpointed %v", np, workers, v.pid, v.worker, victims, !before)
					if v.worker {
						tr.Count("worker killed", 1)
					} else {
						tr.Count("coordinator killed", 1)
					}
				}
			}
			// Run's time bound catches a job that does not end; say what is
			// left of one that takes long.
			slow := time.AfterFunc(30*time.Second, func() {
				tr.Logf("job not ended after 30 s; its processes: %v", describe(tr))
			})
			out, err := job.wait()
			slow.Stop()
			finished := strings.Contains(out, "done: step ")
			switch {
			case !killed:
				tr.Count("job ended before the kill", 1)
			case err == nil && finished:
				tr.Count("job finished anyway", 1) // a worker replaced, or the kill came after the last step
			case err == nil:
				tr.Wrong("the job exited 0 without a done line:\n%s", out)
				return
			}
			if finished {
				checkDone(tr, out, want)
				if err == nil {
					return
				}
				// Killed after the last step (in the checksum, Finalize
				// or the exit): the checkpoint is complete, and resuming
				// it prints the same line.
				tr.Count("killed after the done line", 1)
			}
			// Every process of the job is gone before the resume starts.
			for t0 := time.Now(); len(tr.Procs()) > 0; time.Sleep(10 * time.Millisecond) {
				if time.Since(t0) > 20*time.Second {
					tr.Leak("processes of the killed job still alive after 20 s: %v", describe(tr))
					return
				}
			}
			again := "-resume"
			if before { // killed before every rank had its checkpoint: start over
				again = "-force"
				tr.Count("killed before the checkpoint", 1)
			}
			out, err = startJob(mpirun, self, base, np, append(args, again)).wait()
			if err != nil {
				tr.Wrong("%s on %d ranks: %v:\n%s", again, np, err, out)
				return
			}
			checkDone(tr, out, want)
		},
	})
}

// checkDone checks a job's done line against the serial checksum.
func checkDone(tr *chaos.T, out, want string) {
	m := doneLine.FindStringSubmatch(out)
	switch {
	case m == nil:
		tr.Wrong("no done line:\n%s", out)
	case m[1] != strconv.Itoa(chaosSteps) || m[4] != want:
		tr.Wrong("done at step %s with checksum %s, want step %d and the serial %s:\n%s", m[1], m[4], chaosSteps, want, out)
	}
}

// checkpointed reports whether every rank of np has made its checkpoint
// (its step counter is made last).
func checkpointed(dir string, np int) bool {
	for r := range np {
		if _, err := os.Stat(filepath.Join(dir, stepName(fmt.Sprintf("heat.rank%dof%d", r, np)))); err != nil {
			return false
		}
	}
	return true
}

// job is a running mpirun.
type job struct {
	cmd  *exec.Cmd
	out  *os.File
	done chan error
}

// startJob starts heat2d (this test binary in the role main) on np ranks
// over TCP on loopback, its output going to a file in dir. It has no time
// limit of its own: a job that does not end is the trial's hang. (A file,
// not a pipe: with a pipe, Wait would also wait for any process of the
// job that outlived mpirun, and a leak would look like a hang.)
func startJob(mpirun, self, dir string, np int, args []string) *job {
	margs := []string{"-np", strconv.Itoa(np), "--oversubscribe", "--mca", "btl", "tcp,self",
		"--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo",
		"-x", "SHMPAR_TEST_CHILD", "-x", envArgs, "-x", chaos.EnvTrial, "-x", "SHMPAR_DIR", self, "-test.run=^$"}
	cmd := exec.Command(mpirun, margs...)
	cmd.Env = append(os.Environ(), "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
		"SHMPAR_TEST_CHILD=main", envArgs+"="+strings.Join(args, " "))
	j := &job{cmd: cmd, done: make(chan error, 1)}
	f, err := os.CreateTemp(dir, "out-")
	if err != nil {
		j.done <- err
		return j
	}
	j.out = f
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		j.done <- err
		return j
	}
	go func() {
		err := cmd.Wait()
		f.Close() // the test process's copy; mpirun and its children had theirs
		j.done <- err
	}()
	return j
}

// wait waits for mpirun to exit and returns the job's output.
func (j *job) wait() (string, error) {
	err := <-j.done
	j.done <- err
	if j.out == nil {
		return "", err
	}
	b, rerr := os.ReadFile(j.out.Name())
	if rerr != nil && err == nil {
		err = rerr
	}
	return string(b), err
}

func (j *job) exited() bool {
	select {
	case err := <-j.done:
		j.done <- err
		return true
	default:
		return false
	}
}

// describe names the trial's live processes with their command lines.
func describe(tr *chaos.T) []string {
	var ps []string
	for _, pid := range tr.Procs() {
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		ps = append(ps, fmt.Sprintf("%d %q", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return ps
}

// rankProc is a live process of a rank: its coordinator, or a worker of
// its team.
type rankProc struct {
	pid    int
	worker bool
}

// rankProcs returns the trial's processes that belong to a rank (mpirun
// itself is not one).
func rankProcs(tr *chaos.T) []rankProc {
	var ps []rankProc
	for _, pid := range tr.Procs() {
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil || !bytes.Contains(env, []byte("\x00OMPI_COMM_WORLD_RANK=")) {
			continue
		}
		ps = append(ps, rankProc{pid: pid, worker: bytes.Contains(env, []byte("\x00SHMPAR_ENGINE_WORKER="))})
	}
	return ps
}
