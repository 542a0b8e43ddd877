package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/lock"
	"github.com/shmpar/shmpar/shm"
	"github.com/shmpar/shmpar/value"
	"github.com/shmpar/shmpar/vec"
)

// Alpha is the diffusion number D·Δt/Δx² of the explicit scheme; the scheme
// is stable for Alpha ≤ 1/4. It is a constant, not a flag, so that a
// resumed run cannot use another value than the run it continues.
const Alpha = 0.2

// Boundary and initial values: the top edge is held at Hot, the other
// edges at 0, and a disc of radius n/8 in the middle starts at Hot/2.
const Hot = 100.0

// stepArgs are the arguments of the step kernel. Grid crosses to the worker
// processes as a reference to its segment (it is not copied).
type stepArgs struct {
	Grid *array.Array[float64] // shape [2, n, n]: the two buffers
	N    int
	Src  int // the buffer holding the current state: 0 or 1
	Step int // the step being computed (for the test hook only)
	// Coord is the coordinator's pid (for the test hook only).
	Coord int
}

// step is the kernel of one time step. It is registered at package
// initialization, so the worker processes (this same binary, re-executed)
// have it too.
var step = engine.Register("heat2d/step", func(_ *engine.Ctx, a stepArgs, lo, hi int) error {
	src, dst := buffers(a.Grid.Data(), a.N, a.Src)
	if testKillStep >= 0 && a.Step == testKillStep {
		killCoordinatorMidStep(a, dst, src, lo, hi)
	}
	StepRows(dst, src, a.N, lo, hi)
	return nil
}, engine.Idempotent()) // it writes dst from src, which it never modifies

// buffers returns the current buffer src (index cur) and the other, dst.
func buffers(grid []float64, n, cur int) (src, dst []float64) {
	b0, b1 := grid[:n*n], grid[n*n:2*n*n]
	if cur == 0 {
		return b0, b1
	}
	return b1, b0
}

// StepRows advances rows [lo, hi) of the n×n grid src by one explicit
// time step of the heat equation into dst (the 5-point Laplacian; the
// boundary is copied, so it stays fixed). Every element of those rows of dst
// is written, and src is only read.
//
//	for i := lo; i < hi; i++ {
//		for j := 0; j < n; j++ {
//			if on the boundary {
//				dst[i][j] = src[i][j]
//			} else {
//				lap := src[i-1][j] + src[i+1][j] + src[i][j-1] + src[i][j+1] - 4*src[i][j]
//				dst[i][j] = src[i][j] + Alpha*lap
//			}
//		}
//	}
//
// Each inner row is one vec.DiffuseRow, which computes exactly this loop's
// row with SIMD instructions: the products are rounded before the sums (no
// fused multiply-add), so every platform, every implementation of vec and
// every split of the rows gives the same bits. The test keeps the loop
// above as stepRowsLoop and compares the two bitwise.
func StepRows(dst, src []float64, n, lo, hi int) {
	for i := lo; i < hi; i++ {
		d, c := dst[i*n:(i+1)*n], src[i*n:(i+1)*n]
		if i == 0 || i == n-1 {
			copy(d, c)
			continue
		}
		vec.DiffuseRow(d, src[(i-1)*n:i*n], c, src[(i+1)*n:(i+2)*n], Alpha)
	}
}

// initial writes the initial state of an n×n grid.
func initial(u []float64, n int) {
	for i := range n {
		initialRow(u[i*n:(i+1)*n], n, i)
	}
}

// initialRow writes row i of the initial state of an n×n grid into u.
func initialRow(u []float64, n, i int) {
	r := float64(n) / 8
	for j := range n {
		v := 0.0
		di, dj := float64(i)-float64(n-1)/2, float64(j)-float64(n-1)/2
		switch {
		case i == 0:
			v = Hot
		case i == n-1 || j == 0 || j == n-1:
			v = 0
		case di*di+dj*dj <= r*r:
			v = Hot / 2
		}
		u[j] = v
	}
}

// Serial runs steps steps of the heat equation on an n×n grid from the
// initial state, in one goroutine, and returns the final grid: the serial
// code that a parallel run must match bit for bit.
func Serial(n, steps int) []float64 {
	src, dst := make([]float64, n*n), make([]float64, n*n)
	initial(src, n)
	for range steps {
		StepRows(dst, src, n, 0, n)
		src, dst = dst, src
	}
	return src
}

// Checksum is an FNV-1a hash of the bits of u (each float64 as 8 bytes,
// little-endian): two grids have the same checksum when they are (almost
// certainly) bitwise equal.
func Checksum(u []float64) uint64 { return checksumFrom(fnvOffset, u) }

// FNV-1a's 64-bit parameters.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// checksumFrom continues an FNV-1a hash whose state is h over the bits of
// u: the hash of a grid is the chain of its rows' hashes in row order,
// checksumFrom(checksumFrom(fnvOffset, a), b) = Checksum(a ++ b), which is
// how the ranks of a distributed run hash their slabs in turn.
func checksumFrom(h uint64, u []float64) uint64 {
	for _, v := range u {
		x := math.Float64bits(v)
		for range 8 {
			h ^= x & 0xff
			h *= fnvPrime
			x >>= 8
		}
	}
	return h
}

// ErrInUse is returned when another live process runs a simulation on the
// same checkpoint.
var ErrInUse = errors.New("checkpoint in use by another process")

// ErrIncomplete is returned by -resume when the checkpoint's step counter
// is missing: the run that created the grid died before its initial state
// was complete.
var ErrIncomplete = errors.New("incomplete checkpoint")

// checkpoint is the simulation's state on disk: the grid with its two
// buffers, and the number of completed steps. After s completed steps the
// state is buffer s%2; step s reads it and writes only buffer (s+1)%2, and
// the counter becomes s+1 after the whole step is done.
type checkpoint struct {
	grid *array.Array[float64]
	step *value.Value[int64]
	n    int
}

// stepName is the name of the step counter beside the grid NAME.
func stepName(name string) string { return name + ".step" }

// create makes a new checkpoint with the initial state. The counter is
// created last: a checkpoint without one was never complete.
func create(name, dir string, n int) (*checkpoint, error) {
	opts := []shm.Option{shm.Dir(dir), shm.Persistent()}
	g, err := array.CreateShape[float64](name, []int{2, n, n}, opts...)
	if err != nil {
		if errors.Is(err, shm.ErrExist) {
			return nil, fmt.Errorf("%w: continue it with -resume, or remove it (shmctl rm %s %s -dir %s) or pass -force", err, name, stepName(name), dir)
		}
		return nil, err
	}
	initial(g.Data()[:n*n], n)
	s, err := value.Create[int64](stepName(name), opts...)
	if err != nil {
		g.Close()
		return nil, err
	}
	return &checkpoint{grid: g, step: s, n: n}, nil
}

// open opens an existing checkpoint for -resume.
func open(name, dir string) (*checkpoint, error) {
	g, err := array.Open[float64](name, shm.Dir(dir))
	if err != nil {
		return nil, err
	}
	sh := g.Shape()
	if len(sh) != 3 || sh[0] != 2 || sh[1] != sh[2] || sh[1] < 3 {
		g.Close()
		return nil, fmt.Errorf("%s: shape %v is not a heat2d grid [2, n, n]", g.Path(), sh)
	}
	s, err := value.Open[int64](stepName(name), shm.Dir(dir))
	if err != nil {
		g.Close()
		if errors.Is(err, shm.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no step counter %s (the run that created it died while writing the initial state): remove it and start again",
				ErrIncomplete, g.Path(), stepName(name))
		}
		return nil, err
	}
	return &checkpoint{grid: g, step: s, n: sh[1]}, nil
}

// remove deletes a checkpoint's files (for -force).
func remove(name, dir string) error {
	var errs []error
	for _, f := range []string{name, stepName(name)} {
		if err := shm.Unlink(f, shm.Dir(dir)); err != nil && !errors.Is(err, shm.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// claim takes the grid's robust lock for the whole run, so that two
// simulations never step the same checkpoint. A lock left by a killed run
// is taken over (its owner is dead): the checkpoint needs no repair, since
// a step is only counted once it is complete.
func (c *checkpoint) claim() error {
	mu := c.grid.Mutex()
	ok, err := mu.TryLock()
	switch {
	case ok && errors.Is(err, lock.ErrOwnerDead):
		return mu.Consistent()
	case ok && err == nil:
		return nil
	case err != nil:
		return fmt.Errorf("lock %s: %w", c.grid.Path(), err)
	}
	return fmt.Errorf("%s: %w (pid %d)", c.grid.Path(), ErrInUse, mu.Owner())
}

func (c *checkpoint) release() {
	c.grid.Mutex().Unlock()
}

func (c *checkpoint) close() {
	c.grid.Close()
	c.step.Close()
}

// current returns the buffer holding the state after the counted steps.
func (c *checkpoint) current() []float64 {
	src, _ := buffers(c.grid.Data(), c.n, int(c.step.Load()%2))
	return src
}

// testKillStep is a hook for the tests: a worker process that runs the first
// chunk of this step writes half of its rows, scribbles NaN over the other
// half, and SIGKILLs the coordinator, so that the checkpoint is left with a
// torn destination buffer that a resume must not trust.
var testKillStep = func() int {
	s, err := strconv.Atoi(os.Getenv("HEAT2D_TEST_KILL_STEP"))
	if err != nil {
		return -1
	}
	return s
}()

func killCoordinatorMidStep(a stepArgs, dst, src []float64, lo, hi int) {
	if os.Getpid() == a.Coord || os.Getppid() != a.Coord {
		return // only in a worker process, never the coordinator or a test
	}
	mid := lo + (hi-lo)/2
	StepRows(dst, src, a.N, lo, mid)
	for i := mid * a.N; i < hi*a.N; i++ {
		dst[i] = math.NaN()
	}
	syscall.Kill(a.Coord, syscall.SIGKILL)
	time.Sleep(10 * time.Second) // the engine's death signal ends this process
}
