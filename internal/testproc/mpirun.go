package testproc

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MpirunTimeout bounds one job run by Mpirun; mpirun's own --timeout is 10 s
// shorter, so that it normally ends the job itself and says which rank
// hung.
const MpirunTimeout = 90 * time.Second

// MpirunCommand returns the command that runs this test binary, running no
// tests (-test.run=^$: its TestMain runs the rank's role), on np ranks under
// Open MPI's mpirun, over TCP on the loopback interface (the network path,
// as between nodes). env ("K=V") is added to the ranks' environment and
// forwarded with -x as it would be to other nodes; flags are added to
// mpirun's own (placement, binding); --oversubscribe is added when np
// exceeds the CPUs, and the two variables that let mpirun run as root (in
// a container, in CI). Cancelling ctx sends mpirun SIGTERM, on which it
// ends its ranks; nil ctx means none. When mpirun is not installed the test
// is skipped, or fails under CI (which must run the MPI tests: .ci/run
// installs openmpi-bin).
func MpirunCommand(t testing.TB, ctx context.Context, np int, flags, env []string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("mpirun")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mpirun not found, and CI must run the MPI tests (.ci/run installs openmpi-bin): %v", err)
		}
		t.Skip("mpirun not found: apt-get install openmpi-bin libopenmpi-dev to run the MPI tests")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("the test binary's path: %v", err)
	}
	args := []string{"-np", strconv.Itoa(np),
		"--timeout", strconv.Itoa(int(MpirunTimeout.Seconds()) - 10),
		"--mca", "btl", "tcp,self",
		"--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		args = append(args, "-x", k)
	}
	if np > runtime.NumCPU() && !slices.Contains(flags, "--oversubscribe") {
		args = append(args, "--oversubscribe")
	}
	args = append(args, flags...)
	args = append(args, self, "-test.run=^$")
	var cmd *exec.Cmd
	if ctx == nil {
		cmd = exec.Command(bin, args...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 15 * time.Second
	}
	cmd.Env = append(os.Environ(), "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// Mpirun runs the job of MpirunCommand and returns its combined output
// (every rank's stdout and stderr, and mpirun's) and its error. A job that
// outlives MpirunTimeout fails the test, naming what, with its output.
func Mpirun(t testing.TB, what string, np int, flags, env []string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), MpirunTimeout)
	defer cancel()
	b, err := MpirunCommand(t, ctx, np, flags, env).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d %s overran %v:\n%s", np, what, MpirunTimeout, b)
	}
	return string(b), err
}
