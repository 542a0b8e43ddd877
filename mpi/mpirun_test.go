//go:build mpi

package mpi

// The MPI build is tested with real ranks: a test launches mpirun on this
// test binary with a role in the environment; TestMain in each rank runs the
// role, which writes what it saw to a file per rank, and the test checks
// every rank's file. The test process itself never initialises MPI.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/mpi/exact"
	"github.com/stretchr/testify/require"
)

const (
	roleVar = "SHMPAR_MPI_ROLE" // the role a rank runs
	outVar  = "SHMPAR_MPI_OUT"  // the directory it writes rank-R.json to
)

func TestMain(m *testing.M) {
	engine.Main() // the ranks' team workers never return from it
	if role := os.Getenv(roleVar); role != "" {
		fn, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
			os.Exit(2)
		}
		os.Exit(fn())
	}
	os.Exit(m.Run())
}

// mpirun runs role on np ranks over TCP on the loopback interface and
// returns the combined output of the job, the directory its ranks write
// their reports to, and the job's error. env ("K=V") is added to the
// ranks' environment, and forwarded with -x as it would be to other nodes.
func mpirun(t *testing.T, np int, role string, env ...string) (out, dir string, err error) {
	t.Helper()
	return mpirunFlags(t, np, nil, role, env...)
}

// mpirunFlags is mpirun with more flags for mpirun (placement, binding).
func mpirunFlags(t *testing.T, np int, flags []string, role string, env ...string) (out, dir string, err error) {
	t.Helper()
	dir = t.TempDir()
	env = append([]string{roleVar + "=" + role, outVar + "=" + dir}, env...)
	out, err = testproc.Mpirun(t, role, np, flags, env)
	return out, dir, err
}

// report is what one rank saw.
type report map[string]any

// results runs role on np ranks, requires the job to succeed, and returns
// each rank's report.
func results(t *testing.T, np int, role string, env ...string) []report {
	t.Helper()
	return resultsFlags(t, np, nil, role, env...)
}

// resultsFlags is results with more flags for mpirun.
func resultsFlags(t *testing.T, np int, flags []string, role string, env ...string) []report {
	t.Helper()
	out, dir, err := mpirunFlags(t, np, flags, role, env...)
	require.NoError(t, err, "mpirun -np %d, role %s:\n%s", np, role, out)
	reps := make([]report, np)
	for r := range reps {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("rank-%d.json", r)))
		require.NoError(t, err, "rank %d wrote no report; output:\n%s", r, out)
		require.NoError(t, json.Unmarshal(b, &reps[r]))
	}
	return reps
}

// writeReport writes a rank's report where the test looks for it.
func writeReport(rank int, rep report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(os.Getenv(outVar), fmt.Sprintf("rank-%d.json", rank)), b, 0o600)
}

var roles = map[string]func() int{
	"collectives": roleCollectives,
	"nilderef":    roleNilDeref,
	"panic":       rolePanic,
	"abort":       roleAbort,
	"sigkill":     roleSigkill,
}

// sumN is the length of the collectives role's reproducible sum.
const sumN = 200_003

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	return 1
}

// allOps reduces v(rank) with Sum, Min and Max for element type T and
// records the results under name.
func allOps[T Number](w *Comm, rep report, name string, v func(rank int) T) error {
	for _, op := range []Op{Sum, Min, Max} {
		buf := []T{v(w.Rank()), v(w.Rank()) / 2}
		if err := Allreduce(w, buf, op); err != nil {
			return err
		}
		rep[fmt.Sprintf("%s/%v", name, op)] = fmt.Sprint(buf)
	}
	return nil
}

func roleCollectives() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	r, size := w.Rank(), w.Size()
	rep := report{"rank": r, "size": size}
	if p, err := Launched(); err == nil {
		rep["launched"] = []int{p.Rank, p.Size}
	}

	// Allreduce over every element type.
	errs := []error{
		allOps(w, rep, "int8", func(r int) int8 { return int8(r + 1) }),
		allOps(w, rep, "int16", func(r int) int16 { return int16(-1000 * (r + 1)) }),
		allOps(w, rep, "int32", func(r int) int32 { return int32(r + 1) }),
		allOps(w, rep, "int64", func(r int) int64 { return int64(r+1) << 40 }),
		allOps(w, rep, "int", func(r int) int { return -(r + 1) }),
		allOps(w, rep, "uint8", func(r int) uint8 { return uint8(r + 1) }),
		allOps(w, rep, "uint16", func(r int) uint16 { return uint16(r + 1) }),
		allOps(w, rep, "uint32", func(r int) uint32 { return uint32(r+1) << 20 }),
		allOps(w, rep, "uint64", func(r int) uint64 { return uint64(r+1) << 60 }),
		allOps(w, rep, "uint", func(r int) uint { return uint(r + 1) }),
		allOps(w, rep, "float32", func(r int) float32 { return float32(r) + 0.5 }),
		allOps(w, rep, "float64", func(r int) float64 { return -float64(r) - 0.25 }),
	}
	if err := errors.Join(errs...); err != nil {
		return fail("Allreduce: %v", err)
	}

	root := size - 1
	b := make([]float64, 5)
	if r == root {
		for i := range b {
			b[i] = 100 + float64(i)
		}
	}
	if err := Bcast(w, b, root); err != nil {
		return fail("Bcast: %v", err)
	}
	rep["bcast"] = b

	g := make([]int32, 2*size)
	if err := Allgather(w, []int32{int32(r), int32(10 * r)}, g); err != nil {
		return fail("Allgather: %v", err)
	}
	rep["allgather"] = g

	counts := make([]int, size)
	total := 0
	for q := range counts {
		counts[q] = q + 1
		total += q + 1
	}
	send := make([]int64, r+1)
	for i := range send {
		send[i] = int64(100*r + i)
	}
	gv := make([]int64, total)
	if err := Allgatherv(w, send, gv, counts); err != nil {
		return fail("Allgatherv: %v", err)
	}
	rep["allgatherv"] = gv

	// A ring: send to the next rank, receive from the previous.
	ring := make([]float64, 3)
	n, err := Sendrecv(w, []float64{float64(r), float64(r * r)}, (r+1)%size, ring, (r+size-1)%size, 7)
	if err != nil {
		return fail("Sendrecv ring: %v", err)
	}
	rep["ring"], rep["ringCount"] = ring, n
	// A shift with open ends, as a halo exchange at the domain's edges.
	up, down := r+1, r-1
	if up == size {
		up = ProcNull
	}
	if down < 0 {
		down = ProcNull
	}
	halo := []float64{-1}
	n, err = Sendrecv(w, []float64{float64(10 * r)}, up, halo, down, 8)
	if err != nil {
		return fail("Sendrecv shift: %v", err)
	}
	rep["shift"], rep["shiftCount"] = halo, n

	// The reproducible sum: this rank's share of the global data, then
	// an uneven cut that ignores the grain.
	lo, hi := w.Share(sumN)
	var acc exact.Acc
	for i := lo; i < hi; i++ {
		acc.Add(sumData(i))
	}
	if err := w.AllreduceExact(&acc); err != nil {
		return fail("AllreduceExact: %v", err)
	}
	rep["exactShare"] = strconv.FormatUint(math.Float64bits(acc.Float64()), 16)
	lo, hi = sumN*r/size+13*r, sumN*(r+1)/size+13*(r+1)
	if r == size-1 {
		hi = sumN
	}
	acc.Reset()
	xs := make([]float64, 0, hi-lo)
	for i := lo; i < hi; i++ {
		xs = append(xs, sumData(i))
	}
	acc.AddSlice(xs)
	if err := w.AllreduceExact(&acc); err != nil {
		return fail("AllreduceExact: %v", err)
	}
	rep["exactUneven"] = strconv.FormatUint(math.Float64bits(acc.Float64()), 16)

	// The per-call path allocates nothing (the C wrappers are noescape).
	one, got := []float64{1}, make([]float64, 1)
	rep["allocsAllreduce"] = testing.AllocsPerRun(100, func() { _ = Allreduce(w, one, Sum) })
	rep["allocsSendrecv"] = testing.AllocsPerRun(100, func() {
		_, _ = Sendrecv(w, one, (r+1)%size, got, (r+size-1)%size, 10)
	})

	// Errors: found before any communication, from the wrong goroutine,
	// and from the MPI library itself (a message longer than the buffer).
	rep["errRoot"] = errors.Is(Bcast(w, b, size), ErrRank)
	other := make(chan error)
	go func() { other <- w.Barrier() }()
	rep["errThread"] = errors.Is(<-other, ErrThread)
	short := make([]int, 1)
	_, err = Sendrecv(w, []int{1, 2, 3}, (r+1)%size, short, (r+size-1)%size, 9)
	if err != nil {
		var mpiErr *Error
		rep["errTruncate"] = errors.Is(err, ErrTruncate)
		rep["errTruncateMPI"] = errors.As(err, &mpiErr)
		rep["errTruncateText"] = err.Error()
	}

	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	if err := Finalize(); err != nil {
		return fail("Finalize: %v", err)
	}
	rep["errFinalized"] = errors.Is(w.Barrier(), ErrFinalized)
	if err := writeReport(r, rep); err != nil {
		return fail("report: %v", err)
	}
	return 0
}

// roleNilDeref dereferences a nil pointer on the last rank after Init, a
// fault (SIGSEGV) that Go's runtime must still turn into its panic.
func roleNilDeref() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	if w.Rank() == w.Size()-1 {
		var p *struct{ x int }
		fmt.Println(p.x) // faults
	}
	if err := w.Barrier(); err != nil { // the others wait here until mpirun ends them
		return fail("Barrier: %v", err)
	}
	return 0
}

func rolePanic() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	if w.Rank() == 0 {
		panic("boom on rank 0")
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	return 0
}

// roleAbort aborts the job from rank 1, from a goroutine other than the
// one that called Init (Abort may be called from anywhere), while the
// other ranks wait in a barrier that never completes.
func roleAbort() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	if w.Rank() == 1 {
		done := make(chan error)
		go func() { done <- w.Abort(3) }()
		return fail("Abort returned: %v", <-done)
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	return fail("rank %d passed a barrier that rank 1 never reached", w.Rank())
}

// roleSigkill kills rank 1 with SIGKILL (no handler, no message, no
// MPI_Finalize) while the other ranks wait in a barrier.
func roleSigkill() int {
	w, err := Init()
	if err != nil {
		return fail("Init: %v", err)
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	if w.Rank() == 1 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
			return fail("kill: %v", err)
		}
		time.Sleep(time.Minute) // until the signal lands
	}
	if err := w.Barrier(); err != nil {
		return fail("Barrier: %v", err)
	}
	return fail("rank %d passed a barrier that rank 1 never reached", w.Rank())
}

func TestCollectivesUnderMpirun(t *testing.T) {
	var share, uneven []string
	for _, np := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("np=%d", np), func(t *testing.T) {
			reps := results(t, np, "collectives")
			for r, rep := range reps {
				name := fmt.Sprintf("np=%d rank %d", np, r)
				require.EqualValues(t, r, rep["rank"], name)
				require.EqualValues(t, np, rep["size"], name)
				require.Equal(t, []any{float64(r), float64(np)}, rep["launched"], name)

				// v(r) summed, minimised and maximised over ranks, and
				// the same for v(r)/2 in the second element.
				sumInt := func(v func(int) int64) string {
					var s, h int64
					for q := range np {
						s, h = s+v(q), h+v(q)/2
					}
					return fmt.Sprint([]int64{s, h})
				}
				require.Equal(t, sumInt(func(q int) int64 { return int64(q + 1) }), rep["int8/Sum"], name)
				require.Equal(t, fmt.Sprint([]int8{1, 0}), rep["int8/Min"], name)
				require.Equal(t, fmt.Sprint([]int8{int8(np), int8(np) / 2}), rep["int8/Max"], name)
				require.Equal(t, sumInt(func(q int) int64 { return int64(-1000 * (q + 1)) }), rep["int16/Sum"], name)
				require.Equal(t, fmt.Sprint([]int16{int16(-1000 * np), int16(-500 * np)}), rep["int16/Min"], name)
				require.Equal(t, sumInt(func(q int) int64 { return int64(q+1) << 40 }), rep["int64/Sum"], name)
				require.Equal(t, sumInt(func(q int) int64 { return -int64(q + 1) }), rep["int/Sum"], name)
				require.Equal(t, fmt.Sprint([]int{-np, -np / 2}), rep["int/Min"], name)
				require.Equal(t, fmt.Sprint([]int{-1, 0}), rep["int/Max"], name)
				require.Equal(t, sumInt(func(q int) int64 { return int64(q+1) << 20 }), rep["uint32/Sum"], name)
				require.Equal(t, fmt.Sprint([]uint64{uint64(np) << 60, uint64(np) << 59}), rep["uint64/Max"], name)
				require.Equal(t, fmt.Sprint([]uint16{1, 0}), rep["uint16/Min"], name)
				require.Equal(t, fmt.Sprint([]float32{float32(np-1) + 0.5, (float32(np-1) + 0.5) / 2}), rep["float32/Max"], name)
				require.Equal(t, fmt.Sprint([]float64{-float64(np-1) - 0.25, (-float64(np-1) - 0.25) / 2}), rep["float64/Min"], name)
				fsum := 0.0
				for q := range np {
					fsum += -float64(q) - 0.25 // exact in any order
				}
				require.Equal(t, fmt.Sprint([]float64{fsum, fsum / 2}), rep["float64/Sum"], name)

				require.Equal(t, []any{100.0, 101.0, 102.0, 103.0, 104.0}, rep["bcast"], name)
				var g, gv []any
				for q := range np {
					g = append(g, float64(q), float64(10*q))
					for i := range q + 1 {
						gv = append(gv, float64(100*q+i))
					}
				}
				require.Equal(t, g, rep["allgather"], name)
				require.Equal(t, gv, rep["allgatherv"], name)

				prev := (r + np - 1) % np
				require.Equal(t, []any{float64(prev), float64(prev * prev), 0.0}, rep["ring"], name)
				require.EqualValues(t, 2, rep["ringCount"], name)
				if r == 0 {
					require.Equal(t, []any{-1.0}, rep["shift"], name+": nothing comes from below rank 0")
					require.EqualValues(t, 0, rep["shiftCount"], name)
				} else {
					require.Equal(t, []any{float64(10 * (r - 1))}, rep["shift"], name)
					require.EqualValues(t, 1, rep["shiftCount"], name)
				}

				require.EqualValues(t, 0, rep["allocsAllreduce"], name)
				require.EqualValues(t, 0, rep["allocsSendrecv"], name)
				require.Equal(t, true, rep["errRoot"], name)
				require.Equal(t, true, rep["errThread"], name)
				require.Equal(t, true, rep["errTruncate"], "%s: %v", name, rep["errTruncateText"])
				if np > 1 { // from the MPI library, with its text
					require.Equal(t, true, rep["errTruncateMPI"], name)
					require.Contains(t, rep["errTruncateText"], "MPI_ERR_TRUNCATE", name)
				}
				require.Equal(t, true, rep["errFinalized"], name)
				share = append(share, rep["exactShare"].(string))
				uneven = append(uneven, rep["exactUneven"].(string))
			}
		})
	}
	// Every rank of every job has the bits of the serial exact sum.
	xs := make([]float64, sumN)
	loop := 0.0
	for i := range xs {
		xs[i] = sumData(i)
		loop += xs[i]
	}
	want := strconv.FormatUint(math.Float64bits(exact.Sum(xs)), 16)
	require.Len(t, share, 6)
	for i := range share {
		require.Equal(t, want, share[i], "Share split, report %d", i)
		require.Equal(t, want, uneven[i], "uneven split, report %d", i)
	}
	t.Logf("exact sum %s, left-to-right loop %x", want, math.Float64bits(loop))
}

// TestPanicUnderMpirun checks that Go's runtime still reports a fault and a
// panic after MPI_Init: its message and stack, not an MPI library
// backtrace, and that mpirun then ends the job with a failure.
func TestPanicUnderMpirun(t *testing.T) {
	nilDeref := []string{"panic: runtime error: invalid memory address or nil pointer dereference",
		"[signal SIGSEGV", "mpi.roleNilDeref", "goroutine "}
	for _, c := range []struct {
		name, role string
		env        []string
		wants      []string
	}{
		{"nilderef", "nilderef", nil, nilDeref},
		// Even when the user asks Open MPI to intercept the fault signals.
		{"nilderef/opal_signal", "nilderef", []string{"OMPI_MCA_opal_signal=6,7,8,11"}, nilDeref},
		{"panic", "panic", nil, []string{"panic: boom on rank 0", "mpi.rolePanic", "goroutine "}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, _, err := mpirun(t, 2, c.role, c.env...)
			require.Error(t, err, "the job must fail:\n%s", out)
			for _, w := range c.wants {
				require.Contains(t, out, w, "output:\n%s", out)
			}
			require.NotContains(t, out, "Process received signal", "Open MPI's handler ran:\n%s", out)
		})
	}
}

// TestAbortUnderMpirun checks that Abort from one rank ends every rank of
// the job, with its exit code. (Open MPI 4.1 usually also prints "MPI_ABORT
// was invoked on rank 1", but that message travels from the dying rank and
// is sometimes lost, so it is not required.)
func TestAbortUnderMpirun(t *testing.T) {
	out, _, err := mpirun(t, 3, "abort")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "output:\n%s", out)
	require.Equal(t, 3, exit.ExitCode(), "output:\n%s", out)
	require.NotContains(t, out, "passed a barrier", "output:\n%s", out)
	require.NotContains(t, out, "Abort returned", "output:\n%s", out)
}

// TestSigkillUnderMpirun checks that a rank killed outright ends the job:
// mpirun reports the signal and ends the ranks waiting for it, within the
// job's time bound.
func TestSigkillUnderMpirun(t *testing.T) {
	out, _, err := mpirun(t, 3, "sigkill")
	require.Error(t, err, "output:\n%s", out)
	require.Regexp(t, `process rank 1 .* exited on signal 9`, out)
	require.NotContains(t, out, "passed a barrier", "output:\n%s", out)
}
