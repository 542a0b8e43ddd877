package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/shmpar/shmpar/bench"
	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/mpi"
	"github.com/shmpar/shmpar/vec"
)

// Exit statuses.
const (
	exitOK     = 0
	exitError  = 1 // bad usage, or the run could not be done
	exitFailed = 2 // a result failed verification (or its kernel failed)
)

const usage = `usage: shmbench [flags]

Runs the bench kernels on teams of 1, 2, 4, … workers (worker processes, and
goroutines as the baseline) and a serial loop, checks every result against the
serial reference, and prints time, speedup, efficiency and GB/s per row.
With no flags it runs the default set: every kernel in its vec implementation,
about 20 s on 2 cores.

flags:
  -kernel LIST     kernels to run, comma-separated; NAME:SCHEDULE forces a schedule
                   (e.g. mandelbrot:static,mandelbrot:dynamic), NAME/IMPL one
                   implementation (triad/go); "all" for every kernel
                   default: all of them: %s
  -impl LIST       implementations of the kernels that have several, or "all":
                     go    the plain Go loop
                     vec   package vec (%s here)
                     simd  logistic in Go with simd/archsimd (%s)
                   rows are labelled KERNEL/IMPL (triad/vec); mandelbrot, nbody and
                   empty have one implementation and always run it. default: vec
  -n N             size of every kernel (elements, grid rows, bodies: see -list), and/or
                   of some: -n 2^20,stencil=1024. 2^K, 1<<K and K/M/G suffixes (1M = 2^20)
                   are accepted. default: each kernel's own (shmbench -list)
  -workers LIST    team sizes: 1,2,4 or a range 1-4 (every size in it)
                   default: 1, 2, 4, … up to the usable CPUs (%d here), doubling
  -ranks LIST      under mpirun (a build with -tags mpi): numbers of ranks to run
                   each row on, as -workers; default 1, 2, 4, … up to the job's size.
                   Rank 0 prints; every rank verifies its part (see go doc bench.RunRanks)
  -reps R          timed repetitions per row, the median is reported (default %d)
  -warmup W        untimed repetitions per row first (default %d)
  -backend LIST    process,goroutine,serial (default all three)
  -schedule S      static, dynamic or guided for every For kernel (default: each
                   kernel's own: dynamic for mandelbrot, static otherwise; the
                   reductions stay deterministic unless named sum:SCHEDULE)
  -chunk C         chunk size of dynamic and guided schedules (default: the engine's)
  -primary         in process teams the coordinator runs chunks too, as participant 0
                   (engine.Primary), like the goroutine backend's caller and
                   OpenMP's primary thread (default true; -primary=false for a team of
                   dedicated worker processes, whose waiting coordinator then shares
                   the cores with them)
  -pin             pin worker processes to CPUs (engine.Pin)
  -format F        table, markdown, csv, json or gobench (default table)
  -gobench         the same as -format gobench: Go benchmark lines for benchstat
  -plot FILE       also draw speedup and GB/s against workers to FILE (.svg or .png)
  -o FILE          write the results to FILE instead of standard output
  -q               no progress bar (it is shown only when stderr is a terminal)
  -list            list the kernels and their default sizes, then exit

Exit status: 0 when every row is verified, 2 when a row failed verification or
its kernel failed (fast and wrong is not a result), 1 for bad usage or errors.
`

// options are the parsed flags.
type options struct {
	cfg      bench.Config
	format   string
	plot     string
	out      string
	quiet    bool
	list     bool
	help     bool
	cpus     int
	progress io.Writer // where the progress bar goes, nil for none
	ranks    []int     // -ranks
	world    *mpi.Comm // the MPI world of a run across ranks, nil otherwise
}

// parseFlags parses the command line into options. Every error says which
// flag was wrong and how.
func parseFlags(args []string) (*options, error) {
	o := &options{cpus: engine.UsableCPUs()}
	fs := flag.NewFlagSet("shmbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	kernels := fs.String("kernel", "", "")
	n := fs.String("n", "", "")
	workers := fs.String("workers", "", "")
	ranks := fs.String("ranks", "", "")
	fs.IntVar(&o.cfg.Reps, "reps", bench.DefaultReps, "")
	fs.IntVar(&o.cfg.Warmup, "warmup", bench.DefaultWarmup, "")
	backends := fs.String("backend", "", "")
	impls := fs.String("impl", "", "")
	fs.StringVar(&o.cfg.Schedule, "schedule", "", "")
	fs.IntVar(&o.cfg.Chunk, "chunk", 0, "")
	fs.BoolVar(&o.cfg.Primary, "primary", true, "")
	fs.BoolVar(&o.cfg.Pin, "pin", false, "")
	fs.StringVar(&o.format, "format", "table", "")
	gobench := fs.Bool("gobench", false, "")
	fs.StringVar(&o.plot, "plot", "", "")
	fs.StringVar(&o.out, "o", "", "")
	fs.BoolVar(&o.quiet, "q", false, "")
	fs.BoolVar(&o.list, "list", false, "")
	// For the tests: make one kernel compute a wrong answer.
	fs.StringVar(&o.cfg.Fault, "inject-fault", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			o.help = true
			return o, nil
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (all options are flags; see shmbench -h)", fs.Arg(0))
	}
	var err error
	if *kernels != "" && *kernels != "all" {
		for k := range strings.SplitSeq(*kernels, ",") {
			if k = strings.TrimSpace(k); k == "" {
				return nil, fmt.Errorf("-kernel %q: empty name in list", *kernels)
			}
			if _, err := bench.ParseSpec(k, ""); err != nil {
				return nil, fmt.Errorf("-kernel: %w", err)
			}
			o.cfg.Kernels = append(o.cfg.Kernels, k)
		}
	}
	if *n != "" {
		if err := parseSizes(*n, &o.cfg); err != nil {
			return nil, fmt.Errorf("-n: %w", err)
		}
	}
	if *workers != "" {
		if o.cfg.Workers, err = parseWorkers(*workers); err != nil {
			return nil, fmt.Errorf("-workers: %w", err)
		}
	}
	if *ranks != "" {
		if o.ranks, err = parseWorkers(*ranks); err != nil {
			return nil, fmt.Errorf("-ranks: %w", err)
		}
	}
	if *backends != "" {
		for b := range strings.SplitSeq(*backends, ",") {
			b = strings.TrimSpace(b)
			if !slices.Contains(bench.Backends, b) {
				return nil, fmt.Errorf("-backend: %q is not a backend (want a list of process, goroutine, serial)", b)
			}
			o.cfg.Backends = append(o.cfg.Backends, b)
		}
	}
	if *impls != "" {
		if *impls == "all" {
			o.cfg.Impls = bench.Impls()
		} else {
			for i := range strings.SplitSeq(*impls, ",") {
				i = strings.TrimSpace(i)
				if !slices.Contains(bench.Impls(), i) {
					hint := ""
					if i == bench.ImplSIMD {
						hint = "; simd needs shmbench built with GOEXPERIMENT=simd on amd64"
					}
					return nil, fmt.Errorf("-impl: %q is not an implementation (want a list of %s, or all)%s", i, strings.Join(bench.Impls(), ", "), hint)
				}
				o.cfg.Impls = append(o.cfg.Impls, i)
			}
		}
	}
	if o.cfg.Reps < 1 {
		return nil, fmt.Errorf("-reps %d: want at least 1", o.cfg.Reps)
	}
	if o.cfg.Warmup < 0 {
		return nil, fmt.Errorf("-warmup %d: want 0 or more", o.cfg.Warmup)
	}
	if o.cfg.Warmup == 0 {
		o.cfg.Warmup = -1 // bench.Config: 0 is the default, negative none
	}
	if s := o.cfg.Schedule; s != "" && s != "static" && s != "dynamic" && s != "guided" {
		return nil, fmt.Errorf("-schedule %q: want static, dynamic or guided", s)
	}
	if o.cfg.Chunk < 0 {
		return nil, fmt.Errorf("-chunk %d: want 0 (the engine's choice) or more", o.cfg.Chunk)
	}
	if *gobench {
		o.format = "gobench"
	}
	if !slices.Contains(formats, o.format) {
		return nil, fmt.Errorf("-format %q: want one of %s", o.format, strings.Join(formats, ", "))
	}
	if o.plot != "" {
		if ext := strings.ToLower(filepath.Ext(o.plot)); ext != ".svg" && ext != ".png" {
			return nil, fmt.Errorf("-plot %q: the file name must end in .svg or .png", o.plot)
		}
	}
	if o.cfg.Fault != "" {
		if _, err := bench.Lookup(o.cfg.Fault); err != nil {
			return nil, fmt.Errorf("-inject-fault: %w", err)
		}
	}
	return o, nil
}

// parseSizes parses -n: a size for every kernel, sizes for some
// (kernel=size), or both, comma-separated: "2^20,stencil=1024".
func parseSizes(s string, cfg *bench.Config) error {
	for f := range strings.SplitSeq(s, ",") {
		name, size, one := strings.Cut(f, "=")
		if !one {
			size = name
		}
		v, err := parseSize(size)
		if err != nil {
			return err
		}
		if !one {
			cfg.N = v
			continue
		}
		name = strings.TrimSpace(name)
		if _, err := bench.Lookup(name); err != nil {
			return err
		}
		if cfg.Sizes == nil {
			cfg.Sizes = map[string]int{}
		}
		cfg.Sizes[name] = v
	}
	return nil
}

// parseSize parses a positive size: 1000, 2^20, 1<<20, 64K, 16M, 1G
// (binary multiples).
func parseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a size (want e.g. 1000000, 2^20, 1<<20 or 16M)", s)
	var v int
	if b, e, ok := strings.Cut(t, "<<"); ok || strings.Contains(t, "^") {
		if !ok {
			b, e, _ = strings.Cut(t, "^")
			if strings.TrimSpace(b) != "2" {
				return 0, bad
			}
		} else if strings.TrimSpace(b) != "1" {
			return 0, bad
		}
		k, err := strconv.Atoi(strings.TrimSpace(e))
		if err != nil || k < 0 || k > 62 {
			return 0, bad
		}
		v = 1 << k
	} else {
		mult := 1
		switch {
		case strings.HasSuffix(t, "K"), strings.HasSuffix(t, "k"):
			mult = 1 << 10
		case strings.HasSuffix(t, "M"):
			mult = 1 << 20
		case strings.HasSuffix(t, "G"):
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
		x, err := strconv.Atoi(t)
		if err != nil || x > (1<<62)/mult {
			return 0, bad
		}
		v = x * mult
	}
	if v < 1 {
		return 0, fmt.Errorf("%q: the size must be at least 1", s)
	}
	return v, nil
}

// maxWorkers bounds -workers: more processes than this is a typo.
const maxWorkers = 1024

// parseWorkers parses "1,2,4", "1-4" (every size from 1 to 4) or a mix
// ("1,2,4-6").
func parseWorkers(s string) ([]int, error) {
	var ws []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %q is not a team size or range (want e.g. 1,2,4 or 1-4)", s, f)
		}
		if a < 1 || b > maxWorkers || a > b {
			return nil, fmt.Errorf("%q: %q is out of range (sizes from 1 to %d, ranges low-high)", s, f, maxWorkers)
		}
		for w := a; w <= b; w++ {
			ws = append(ws, w)
		}
	}
	return ws, nil
}

// simdUsage says whether this build has the simd implementation.
func simdUsage() string {
	if slices.Contains(bench.Impls(), bench.ImplSIMD) {
		return "in this build"
	}
	return "needs a build with GOEXPERIMENT=simd"
}

// listKernels prints the suite.
func listKernels(w io.Writer) {
	fmt.Fprintf(w, "%-11s %-10s %-13s %-10s %-13s %s\n", "KERNEL", "CLASS", "SCHEDULE", "DEFAULT N", "IMPLS", "WHAT (n counts)")
	for _, k := range bench.Kernels() {
		fmt.Fprintf(w, "%-11s %-10s %-13s %-10s %-13s %s (n: %s)\n", k.Name, k.Class, k.Schedule, sizeString(k.DefaultN),
			strings.Join(k.Impls, ","), k.Summary, k.NMeaning)
	}
}

// run is shmbench with its arguments and streams; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runOn(ctx, nil, args, stdout, stderr)
}

// runOn is run as one rank of world (nil: a run in this process alone).
// Across ranks, every rank measures and rank 0 writes the results.
func runOn(ctx context.Context, world *mpi.Comm, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if err == nil {
		err = o.setWorld(world)
	}
	if world != nil && world.Rank() != 0 { // the others have the same arguments and results
		stdout, stderr = io.Discard, io.Discard
	}
	if err != nil {
		fmt.Fprintf(stderr, "shmbench: %v\n", err)
		fmt.Fprintln(stderr, "run shmbench -h for the flags")
		return exitError
	}
	if o.help {
		fmt.Fprintf(stdout, usage, kernelNameList(), vec.Impl(), simdUsage(), o.cpus, bench.DefaultReps, bench.DefaultWarmup)
		return exitOK
	}
	if o.list {
		listKernels(stdout)
		return exitOK
	}
	if !o.quiet && isTerminal(stderr) {
		o.progress = stderr
	}
	rs, err := measure(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; no results")
		}
		fmt.Fprintf(stderr, "shmbench: %v\n", err)
		return exitError
	}
	out := stdout
	var f *os.File
	if o.out != "" {
		if f, err = os.Create(o.out); err != nil {
			fmt.Fprintf(stderr, "shmbench: -o: %v\n", err)
			return exitError
		}
		out = f
	}
	err = write(out, o, rs)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "shmbench: write results: %v\n", err)
		return exitError
	}
	if o.plot != "" {
		if err := plotResults(o.plot, rs); err != nil {
			fmt.Fprintf(stderr, "shmbench: -plot: %v\n", err)
			return exitError
		}
	}
	status := exitOK
	for _, r := range rs {
		if r.Failed() {
			fmt.Fprintf(stderr, "shmbench: FAILED %s %s: %v\n", r.Kernel, where(r), r.Err)
			status = exitFailed
		}
	}
	return status
}

func kernelNameList() string {
	var names []string
	for _, k := range bench.Kernels() {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}

// measure runs the benchmark with a progress bar when o.progress is set.
func measure(ctx context.Context, o *options) ([]bench.Result, error) {
	cfg := o.cfg
	if o.progress != nil {
		bar := newProgress(o.progress)
		defer bar.finish()
		cfg.Progress = bar.update
	}
	if o.world != nil {
		return bench.RunRanks(ctx, o.world, cfg, o.ranks)
	}
	return bench.Run(ctx, cfg)
}

func write(w io.Writer, o *options, rs []bench.Result) error {
	switch o.format {
	case "markdown":
		return writeMarkdown(w, o, rs)
	case "csv":
		return writeCSV(w, rs)
	case "json":
		return writeJSON(w, rs)
	case "gobench":
		return writeGoBench(w, rs)
	}
	return writeTable(w, o, rs)
}
