package main

// heat2d on several ranks: built with -tags mpi and started by
// mpirun -np R (or srun), the grid is cut into R slabs of rows, one per
// rank, each advanced by the rank's own team and kept in its own
// checkpoint files; the rows at a slab's edges travel to the neighbouring
// ranks (MPI_Sendrecv) before every step. The arithmetic of a row is
// StepRows's, so the grid after S steps has the same bits as the serial
// code's, for every R and team size, and so has the checksum.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi"
	"github.com/shmpar/shmpar/mpi/exact"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
)

// ErrRanks is returned by -resume when the checkpoint in the directory was
// written by another number of ranks than the run has: each rank's slab is
// its own file, cut for that number.
var ErrRanks = errors.New("checkpoint written by another number of ranks")

// runWorld initialises MPI and runs heat2d: simulate on a world of one
// rank (a program built without -tags mpi, or started without mpirun or
// with -np 1), the slab decomposition on more. It returns the exit status.
// A rank that fails exits without MPI_Finalize, so that mpirun ends the
// ranks that did not fail (those that wait for it in a halo exchange).
func runWorld(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	world, err := mpi.Init()
	if err != nil {
		fmt.Fprintf(stderr, "heat2d: %v\n", err)
		return 1
	}
	code := 0
	if world.Size() == 1 {
		code = run(ctx, args, stdout, stderr)
	} else {
		code = runRanks(ctx, world, args, stdout, stderr)
	}
	if code != 0 {
		return code
	}
	if err := mpi.Finalize(); err != nil {
		fmt.Fprintf(stderr, "heat2d: %v\n", err)
		return 1
	}
	return 0
}

// runRanks is run for one rank of several.
func runRanks(ctx context.Context, world *mpi.Comm, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		if world.Rank() == 0 { // every rank has the same arguments
			fmt.Fprintf(stderr, "heat2d: %v\n", err)
		}
		return 1
	}
	if err := simulateRanks(ctx, o, world, stdout); err != nil {
		if world.Rank() == 0 || !errors.Is(err, mpi.ErrOtherRank) {
			fmt.Fprintf(stderr, "heat2d: rank %d of %d: %v\n", world.Rank(), world.Size(), err)
		}
		return 1
	}
	return 0
}

// slab is a rank's part of the grid: the rows [r0, r1) of an n×n grid.
// Its file holds two buffers of rows+2 rows each: a halo row, the owned
// rows, a halo row; global row i is local row i-r0+1. The halo rows hold
// copies of the neighbours' edge rows (the first rank's upper halo and the
// last rank's lower one stay unused: rows 0 and n-1 are the boundary).
type slab struct {
	n, r0, r1  int
	rank, size int
}

// slabOf returns rank's slab of an n×n grid over size ranks: near-equal
// blocks of whole rows, rank 0 at the top.
func slabOf(n, rank, size int) slab {
	return slab{n: n, r0: n * rank / size, r1: n * (rank + 1) / size, rank: rank, size: size}
}

func (s slab) rows() int { return s.r1 - s.r0 }

// file returns the name of the slab's grid file for checkpoint name.
func (s slab) file(name string) string { return fmt.Sprintf("%s.rank%dof%d", name, s.rank, s.size) }

// buffers returns the slab's buffer cur (the state) and the other one.
func (s slab) buffers(data []float64, cur int) (src, dst []float64) {
	m := (s.rows() + 2) * s.n
	b0, b1 := data[:m], data[m:2*m]
	if cur == 0 {
		return b0, b1
	}
	return b1, b0
}

// owned returns the owned rows of a buffer.
func (s slab) owned(buf []float64) []float64 { return buf[s.n : (s.rows()+1)*s.n] }

// slabArgs are the arguments of the slab step kernel.
type slabArgs struct {
	Grid        *array.Array[float64] // shape [2, rows+2, n]
	N, R0, Rows int
	Src         int  // the buffer holding the current state
	Coord       int  // the coordinator's pid (for the test hook only)
	Kill        bool // the test hook: kill the coordinator mid-step
}

// slabStep advances the global rows [lo, hi) of a slab by one step.
var slabStep = engine.Register("heat2d/slab", func(_ *engine.Ctx, a slabArgs, lo, hi int) error {
	s := slab{n: a.N, r0: a.R0, r1: a.R0 + a.Rows}
	src, dst := s.buffers(a.Grid.Data(), a.Src)
	if a.Kill && os.Getpid() != a.Coord && os.Getppid() == a.Coord {
		mid := lo + (hi-lo)/2
		SlabRows(dst, src, a.N, a.R0, lo, mid)
		for i := range dst[(mid-a.R0+1)*a.N : (hi-a.R0+1)*a.N] {
			dst[(mid-a.R0+1)*a.N+i] = math.NaN()
		}
		syscall.Kill(a.Coord, syscall.SIGKILL)
		time.Sleep(10 * time.Second) // the engine's death signal ends this process
	}
	SlabRows(dst, src, a.N, a.R0, lo, hi)
	return nil
}, engine.Idempotent()) // it writes dst from src, which it never modifies

// SlabRows advances the global rows [lo, hi) of an n×n grid held in a slab
// whose local row l is global row r0+l-1 (src has the rows around
// [lo, hi) too: the halo rows at the slab's edges). Each row is stepped by
// StepRows, on the window of three rows around it, so a slab's rows have
// the bits of the whole grid's.
func SlabRows(dst, src []float64, n, r0, lo, hi int) {
	for i := lo; i < hi; i++ {
		l := i - r0 + 1
		if i == 0 || i == n-1 {
			copy(dst[l*n:(l+1)*n], src[l*n:(l+1)*n])
			continue
		}
		StepRows(dst[(l-1)*n:(l+2)*n], src[(l-1)*n:(l+2)*n], n, 1, 2)
	}
}

// Message tags of the halo exchange and the checksum chain.
const (
	tagUp = iota + 1
	tagDown
	tagHash
)

// neighbours returns the ranks above and below s (ProcNull at the edges).
func (s slab) neighbours() (up, down int) {
	up, down = s.rank-1, s.rank+1
	if up < 0 {
		up = mpi.ProcNull
	}
	if down == s.size {
		down = mpi.ProcNull
	}
	return up, down
}

// exchange fills the halo rows of buf with the neighbours' edge rows of
// their buffer of the same step, and sends them ours: two Sendrecv, one
// upwards and one downwards.
func exchange(w *mpi.Comm, s slab, buf []float64) error {
	n, rows := s.n, s.rows()
	up, down := s.neighbours()
	first, last := buf[n:2*n], buf[rows*n:(rows+1)*n]
	above, below := buf[:n], buf[(rows+1)*n:(rows+2)*n]
	got, err := mpi.Sendrecv(w, first, up, below, down, tagUp)
	if err == nil && down != mpi.ProcNull && got != n {
		err = fmt.Errorf("rank %d sent a row of %d, want %d", down, got, n)
	}
	if err != nil {
		return err
	}
	got, err = mpi.Sendrecv(w, last, down, above, up, tagDown)
	if err == nil && up != mpi.ProcNull && got != n {
		err = fmt.Errorf("rank %d sent a row of %d, want %d", up, got, n)
	}
	return err
}

// chainChecksum returns, on every rank, Checksum of the whole grid whose
// slabs the ranks hold in state: each rank continues the hash of the rows
// above its own, received from the rank above, and passes it on; the last
// rank's hash is the grid's. Eight bytes cross per rank, not the grid.
func chainChecksum(w *mpi.Comm, s slab, state []float64) (uint64, error) {
	h := []uint64{fnvOffset}
	up, down := s.neighbours()
	if _, err := mpi.Sendrecv(w, nil, mpi.ProcNull, h, up, tagHash); err != nil {
		return 0, err
	}
	h[0] = checksumFrom(h[0], s.owned(state))
	if _, err := mpi.Sendrecv(w, h, down, nil, mpi.ProcNull, tagHash); err != nil {
		return 0, err
	}
	if err := mpi.Bcast(w, h, s.size-1); err != nil {
		return 0, err
	}
	return h[0], nil
}

// testKillRank is the rank whose worker kills its coordinator at step
// testKillStep (a hook for the tests).
var testKillRank = func() int {
	r, err := strconv.Atoi(os.Getenv("HEAT2D_TEST_KILL_RANK"))
	if err != nil {
		return -1
	}
	return r
}()

// createSlab makes rank s's checkpoint files with the initial state of its
// rows, the step counter last (as create does).
func createSlab(name, dir string, s slab) (*checkpoint, error) {
	opts := []shm.Option{shm.Dir(dir), shm.Persistent()}
	file := s.file(name)
	g, err := array.CreateShape[float64](file, []int{2, s.rows() + 2, s.n}, opts...)
	if err != nil {
		if errors.Is(err, shm.ErrExist) {
			return nil, fmt.Errorf("%w: continue it with -resume, or pass -force to replace it", err)
		}
		return nil, err
	}
	state, _ := s.buffers(g.Data(), 0)
	for i := s.r0; i < s.r1; i++ {
		l := i - s.r0 + 1
		initialRow(state[l*s.n:(l+1)*s.n], s.n, i)
	}
	c, err := value.Create[int64](stepName(file), opts...)
	if err != nil {
		g.Close()
		return nil, err
	}
	return &checkpoint{grid: g, step: c, n: s.n}, nil
}

// openSlab opens rank's checkpoint files of a run of size ranks and checks
// that they are that rank's slab.
func openSlab(name, dir string, rank, size int) (*checkpoint, slab, error) {
	file := fmt.Sprintf("%s.rank%dof%d", name, rank, size)
	g, err := array.Open[float64](file, shm.Dir(dir))
	if err != nil {
		if errors.Is(err, shm.ErrNotExist) {
			err = otherLayout(err, dir, name, size)
		}
		return nil, slab{}, err
	}
	sh := g.Shape()
	var s slab
	if len(sh) == 3 && sh[0] == 2 && sh[2] >= 3 {
		s = slabOf(sh[2], rank, size)
	}
	if s.n == 0 || sh[1] != s.rows()+2 {
		g.Close()
		return nil, slab{}, fmt.Errorf("%s: shape %v is not slab %d of %d of a heat2d grid [2, rows+2, n]", g.Path(), sh, rank, size)
	}
	c, err := value.Open[int64](stepName(file), shm.Dir(dir))
	if err != nil {
		g.Close()
		if errors.Is(err, shm.ErrNotExist) {
			return nil, slab{}, fmt.Errorf("%w: %s has no step counter %s (the run that created it died while writing the initial state): remove it and start again",
				ErrIncomplete, g.Path(), stepName(file))
		}
		return nil, slab{}, err
	}
	return &checkpoint{grid: g, step: c, n: s.n}, s, nil
}

// layoutName matches the files of a slab checkpoint: NAME.rankRofSIZE.
var layoutName = regexp.MustCompile(`^(.*)\.rank(\d+)of(\d+)$`)

// otherLayout explains a missing checkpoint file (err) for a run of size
// ranks when dir holds checkpoint name written by another number of ranks,
// or by a single process; otherwise it returns err.
func otherLayout(err error, dir, name string, size int) error {
	ents, rerr := os.ReadDir(dir)
	if rerr != nil {
		return err
	}
	var found []int
	for _, e := range ents {
		if e.Name() == name {
			found = append(found, 1)
		}
		m := layoutName.FindStringSubmatch(e.Name())
		if m == nil || m[1] != name {
			continue
		}
		if r, cerr := strconv.Atoi(m[3]); cerr == nil {
			found = append(found, r)
		}
	}
	slices.Sort(found)
	found = slices.Compact(found)
	found = slices.DeleteFunc(found, func(r int) bool { return r == size })
	if len(found) == 0 {
		return err
	}
	var how []string
	for _, r := range found {
		if r == 1 {
			how = append(how, "a single process (no mpirun, or mpirun -np 1)")
		} else {
			how = append(how, fmt.Sprintf("%d ranks (mpirun -np %d)", r, r))
		}
	}
	return fmt.Errorf("%w: %s in %s was written by %s, and this run has %d; resume it as it was written",
		ErrRanks, name, dir, strings.Join(how, " and by "), size)
}

// simulateRanks is simulate for one rank of several.
func simulateRanks(ctx context.Context, o *options, w *mpi.Comm, out io.Writer) (err error) {
	rank, size := w.Rank(), w.Size()
	if err := w.Agree(os.MkdirAll(o.dir, 0o700)); err != nil {
		return err
	}

	// Every rank opens (or creates) its own slab and takes its lock; they
	// agree before any goes on.
	var ck *checkpoint
	var s slab
	claimed := false
	switch {
	case o.resume:
		ck, s, err = openSlab(o.name, o.dir, rank, size)
		if err == nil && o.nSet && o.n != s.n {
			err = fmt.Errorf("-n %d, but the checkpoint's grid is %d×%d", o.n, s.n, s.n)
		}
	case o.n < size:
		err = fmt.Errorf("-n %d: fewer rows than the %d ranks", o.n, size)
	default:
		s = slabOf(o.n, rank, size)
		if o.force {
			err = remove(s.file(o.name), o.dir)
		}
		if err == nil {
			ck, err = createSlab(o.name, o.dir, s)
		}
	}
	if err == nil {
		err = ck.claim()
		claimed = err == nil
	}
	defer func() {
		if claimed {
			ck.release()
		}
		if ck != nil {
			ck.close()
		}
	}()
	if err := w.Agree(err); err != nil {
		return err
	}

	// The ranks' counters may differ after a kill (see README.md): the
	// run goes on from the smallest, and a rank ahead of it only exchanges
	// its halo rows until the others have caught up.
	mine := int(ck.step.Load())
	agg := []int64{int64(mine), -int64(mine), int64(s.n), -int64(s.n)}
	if err := mpi.Allreduce(w, agg, mpi.Min); err != nil {
		return err
	}
	from, upTo := int(agg[0]), int(-agg[1])
	switch {
	case agg[2] != -agg[3]:
		return fmt.Errorf("the slabs are of grids of %d and %d rows", agg[2], -agg[3])
	case upTo-from > size-1:
		return fmt.Errorf("the ranks' step counters range from %d to %d, more than %d apart: not a checkpoint of this program", from, upTo, size-1)
	case upTo > o.steps:
		return fmt.Errorf("the checkpoint is at step %d, past -steps %d", upTo, o.steps)
	}
	n := s.n
	if rank == 0 {
		pattern := fmt.Sprintf("%s/%s.rank*of%d", o.dir, o.name, size)
		if o.resume {
			fmt.Fprintf(out, "resuming %s at step %d of %d (%d×%d, %d ranks)\n", pattern, from, o.steps, n, n, size)
		} else {
			fmt.Fprintf(out, "starting %s: %d×%d, %d steps, %d ranks\n", pattern, n, n, o.steps, size)
		}
	}

	var team *engine.Team
	if o.backend != "serial" {
		team, err = engine.Start(append(o.teamOptions(), w.ShareNode())...)
	}
	if err := w.Agree(err); err != nil {
		return err
	}
	if team != nil {
		defer team.Close()
	}

	var halo time.Duration
	t0 := time.Now()
	st := from
	for ; st < o.steps; st++ {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped after step %d of %d; continue with -resume (%w)", st, o.steps, ctx.Err())
		}
		src, dst := s.buffers(ck.grid.Data(), st%2)
		th := time.Now()
		if err := exchange(w, s, src); err != nil {
			return fmt.Errorf("step %d: halo exchange: %w", st, err)
		}
		halo += time.Since(th)
		if mine <= st { // this rank has not done step st yet
			if team != nil {
				a := slabArgs{Grid: ck.grid, N: n, R0: s.r0, Rows: s.rows(), Src: st % 2, Coord: os.Getpid(),
					Kill: st == testKillStep && rank == testKillRank}
				if err := slabStep.For(ctx, team, n, a, engine.Range(s.r0, s.r1)); err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("stopped during step %d of %d (not counted); continue with -resume (%w)", st, o.steps, ctx.Err())
					}
					return fmt.Errorf("step %d: %w", st, err)
				}
			} else {
				SlabRows(dst, src, n, s.r0, s.r0, s.r1)
			}
			// Only now, with every row of the step written, does it count.
			ck.step.Store(int64(st + 1))
		}
		if o.every > 0 && (st+1)%o.every == 0 && st+1 >= upTo {
			if err := progress(w, s, dst, st+1, o.steps, out); err != nil {
				return err
			}
		}
		if o.delay > 0 {
			select {
			case <-time.After(o.delay):
			case <-ctx.Done():
			}
		}
	}
	elapsed := time.Since(t0)
	state, _ := s.buffers(ck.grid.Data(), st%2)
	sum, err := chainChecksum(w, s, state)
	if err != nil {
		return err
	}
	times := []int64{int64(elapsed), int64(halo)}
	if err := mpi.Allreduce(w, times, mpi.Max); err != nil {
		return err
	}
	if rank == 0 {
		if done := st - from; done > 0 {
			workers := 0
			if team != nil {
				workers = team.Workers()
			}
			fmt.Fprintf(out, "ranks: %d × %d workers, %d steps: %.1f µs/step, halo exchange %.1f µs/step (slowest rank)\n",
				size, workers, done, float64(times[0])/1e3/float64(done), float64(times[1])/1e3/float64(done))
		}
		fmt.Fprintf(out, "done: step %d, %d×%d, %.3fs, checksum %016x\n", st, n, n, time.Duration(times[0]).Seconds(), sum)
	}
	return nil
}

// progress prints, on rank 0, the mean (exact, as mean computes it) and the
// centre value of the grid whose slabs the ranks hold in state.
func progress(w *mpi.Comm, s slab, state []float64, step, steps int, out io.Writer) error {
	var acc exact.Acc
	acc.AddSlice(s.owned(state))
	if err := w.AllreduceExact(&acc); err != nil {
		return err
	}
	n, c := s.n, s.n/2
	centre := []float64{0}
	if c >= s.r0 && c < s.r1 {
		centre[0] = state[(c-s.r0+1)*n+c]
	}
	if err := mpi.Bcast(w, centre, owner(n, s.size, c)); err != nil {
		return err
	}
	if w.Rank() == 0 {
		fmt.Fprintf(out, "step %d/%d  mean %.6f  centre %.6f\n", step, steps, acc.Float64()/float64(n*n), centre[0])
	}
	return nil
}

// owner returns the rank whose slab holds row i of an n×n grid over size
// ranks.
func owner(n, size, i int) int {
	for r := range size {
		if s := slabOf(n, r, size); i >= s.r0 && i < s.r1 {
			return r
		}
	}
	return size - 1
}
