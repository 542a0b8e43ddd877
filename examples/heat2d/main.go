// Command heat2d is a 2-D heat-diffusion simulation built on shmpar, written
// the way a user would write one: the grid lives in a file-backed shared
// Array (so the run is its own checkpoint), a team of worker processes
// advances it one For per time step, and a run that was killed continues
// from the file with -resume, ending bitwise equal to an uninterrupted run
// and to the serial code (-backend serial).
//
// Usage:
//
//	heat2d [-dir DIR] [-name NAME] [-n N] [-steps K] [-workers W]
//	       [-backend process|goroutine|serial] [-resume] [-force] [-every M] [-delay D]
//
// The checkpoint is two files in DIR: NAME, a float64 array of shape
// [2, N, N] holding two buffers, and NAME.step, an int64 Value counting the
// completed steps; after s steps the state is buffer s%2. See README.md for
// how a kill mid-step is made harmless, and for watching a run live with
// shmctl and numpy.
//
// Built with -tags mpi and started by mpirun -np R (R > 1), each rank
// holds a slab of rows in its own checkpoint files, NAME.rankRofSIZE and
// its .step, and exchanges its edge rows with its neighbours before each
// step (ranks.go); the checksum is the serial run's. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi/exact"
	"github.com/shmpar/shmpar/shm"
)

func main() {
	engine.Main() // in a worker process this serves the team and never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWorld(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	dir, name, backend string
	n, steps, workers  int
	every              int
	delay              time.Duration
	resume, force      bool
	primary            bool
	nSet               bool
}

func parse(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("heat2d", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.dir, "dir", "heat2d-data", "directory of the checkpoint (on disk, so it outlives the run)")
	fs.StringVar(&o.name, "name", "heat", "name of the grid segment; the step counter is NAME.step")
	fs.IntVar(&o.n, "n", 1024, "grid size N (N×N points)")
	fs.IntVar(&o.steps, "steps", 1000, "run until this many steps are done in total")
	fs.IntVar(&o.workers, "workers", 0, "team size (default: the usable CPUs)")
	fs.StringVar(&o.backend, "backend", "process", "process, goroutine or serial")
	// Primary: the coordinator computes rows too instead of waiting for the
	// workers. On a machine with as many cores as workers, a waiting
	// coordinator competes with them (0.3 ms per step on 2 cores).
	fs.BoolVar(&o.primary, "primary", true, "the coordinator computes rows too (engine.Primary); -primary=false: only worker processes do")
	fs.BoolVar(&o.resume, "resume", false, "continue the checkpoint in DIR instead of starting a new one")
	fs.BoolVar(&o.force, "force", false, "replace an existing checkpoint instead of failing")
	fs.IntVar(&o.every, "every", 100, "print a progress line every M steps (0: never)")
	fs.DurationVar(&o.delay, "delay", 0, "sleep this long after each step (to watch or kill a run by hand)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: heat2d [flags]")
			fs.PrintDefaults()
		}
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { o.nSet = o.nSet || f.Name == "n" })
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.n < 3 || o.n > 1<<15:
		return nil, fmt.Errorf("-n %d: want 3 ≤ N ≤ 32768", o.n)
	case o.steps < 0:
		return nil, fmt.Errorf("-steps %d: want 0 or more", o.steps)
	case o.workers < 0:
		return nil, fmt.Errorf("-workers %d: want 0 (the usable CPUs) or more", o.workers)
	case !slices.Contains([]string{"process", "goroutine", "serial"}, o.backend):
		return nil, fmt.Errorf("-backend %q: want process, goroutine or serial", o.backend)
	case o.every < 0:
		return nil, fmt.Errorf("-every %d: want 0 or more", o.every)
	case o.resume && o.force:
		return nil, errors.New("-resume and -force contradict each other")
	}
	return o, nil
}

// teamOptions returns the options of the team the flags ask for (not
// serial).
func (o *options) teamOptions() []engine.TeamOption {
	backend := engine.Process
	if o.backend == "goroutine" {
		backend = engine.Goroutine
	}
	return []engine.TeamOption{engine.Workers(o.workers), engine.Primary(o.primary), backend}
}

// run is heat2d with its arguments and streams; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err == nil {
		err = simulate(ctx, o, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "heat2d: %v\n", err)
		return 1
	}
	return 0
}

func simulate(ctx context.Context, o *options, out io.Writer) error {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	var ck *checkpoint
	var err error
	if o.resume {
		ck, err = open(o.name, o.dir)
		if errors.Is(err, shm.ErrNotExist) {
			err = otherLayout(err, o.dir, o.name, 1)
		}
		if err == nil && o.nSet && o.n != ck.n {
			ck.close()
			err = fmt.Errorf("-n %d, but the checkpoint's grid is %d×%d", o.n, ck.n, ck.n)
		}
	} else {
		if o.force {
			if err := remove(o.name, o.dir); err != nil {
				return err
			}
		}
		ck, err = create(o.name, o.dir, o.n)
	}
	if err != nil {
		return err
	}
	defer ck.close()
	if err := ck.claim(); err != nil {
		return err
	}
	defer ck.release()

	n, s := ck.n, int(ck.step.Load())
	if s > o.steps {
		return fmt.Errorf("the checkpoint is at step %d, past -steps %d", s, o.steps)
	}
	if o.resume {
		fmt.Fprintf(out, "resuming %s at step %d of %d (%d×%d)\n", ck.grid.Path(), s, o.steps, n, n)
	} else {
		fmt.Fprintf(out, "starting %s: %d×%d, %d steps\n", ck.grid.Path(), n, n, o.steps)
	}

	var team *engine.Team
	if o.backend != "serial" {
		if team, err = engine.Start(o.teamOptions()...); err != nil {
			return err
		}
		defer team.Close()
	}
	t0 := time.Now()
	for ; s < o.steps; s++ {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped after step %d of %d; continue with -resume (%w)", s, o.steps, ctx.Err())
		}
		// Step s reads buffer s%2 and writes only buffer (s+1)%2.
		if team != nil {
			a := stepArgs{Grid: ck.grid, N: n, Src: s % 2, Step: s, Coord: os.Getpid()}
			if err := step.For(ctx, team, n, a); err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("stopped during step %d of %d (not counted); continue with -resume (%w)", s, o.steps, ctx.Err())
				}
				return fmt.Errorf("step %d: %w", s, err)
			}
		} else {
			src, dst := buffers(ck.grid.Data(), n, s%2)
			StepRows(dst, src, n, 0, n)
		}
		// Only now, with every row of the step written, does it count.
		ck.step.Store(int64(s + 1))
		if o.every > 0 && (s+1)%o.every == 0 {
			u := ck.current()
			fmt.Fprintf(out, "step %d/%d  mean %.6f  centre %.6f\n", s+1, o.steps, mean(u), u[(n/2)*n+n/2])
		}
		if o.delay > 0 {
			select {
			case <-time.After(o.delay):
			case <-ctx.Done():
			}
		}
	}
	fmt.Fprintf(out, "done: step %d, %d×%d, %.3fs, checksum %016x\n", s, n, n, time.Since(t0).Seconds(), Checksum(ck.current()))
	return nil
}

// mean is the exact mean of u, rounded once: the same bits as the mean a
// distributed run computes from its slabs.
func mean(u []float64) float64 {
	return exact.Sum(u) / float64(len(u))
}
