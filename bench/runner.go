package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// Backend names, in the order rows are printed.
const (
	BackendProcess   = "process"   // engine.Process: a team of worker processes
	BackendGoroutine = "goroutine" // engine.Goroutine: a team of goroutines
	BackendSerial    = "serial"    // no team: the kernel's body over [0, n) in the calling goroutine
)

// Backends lists the backend names Run accepts, in row order.
var Backends = []string{BackendProcess, BackendGoroutine, BackendSerial}

// Schedules lists the schedule names a Spec accepts.
var Schedules = []string{"static", "dynamic", "guided", "deterministic"}

// Defaults of Config's zero fields.
const (
	DefaultReps   = 11
	DefaultWarmup = 1
)

// DefaultImpls are the implementations Run measures when Config.Impls is
// empty: vec, what the suite's kernels are; ImplGo adds the plain Go loops
// beside them, to read vec's gain as a ratio within one run.
var DefaultImpls = []string{ImplVec}

// ErrConfig is returned by Run when the Config asks for something that
// cannot be measured (an unknown kernel, backend or schedule, a bad size).
var ErrConfig = errors.New("bench: invalid configuration")

// Config says what Run measures. The zero value runs every kernel at its
// default size on every backend at DefaultWorkers().
type Config struct {
	// Kernels are the kernels to run, in order: a name from Kernels, or
	// "name:schedule" to force a schedule on it (e.g. "mandelbrot:static").
	// Empty means all.
	Kernels []string
	// N is the size of every kernel (see Kernel.NMeaning); 0 means each
	// kernel's DefaultN.
	N int
	// Sizes overrides N for the kernels it names.
	Sizes map[string]int
	// Workers are the team sizes; empty means DefaultWorkers(). The serial
	// backend runs once, as 1 worker.
	Workers []int
	// Backends are "process", "goroutine" and "serial"; empty means all.
	Backends []string
	// Impls are the implementations to run (ImplGo, ImplVec, ImplSIMD):
	// a kernel named without one ("triad", not "triad/go") runs each of
	// these it has, and a kernel with a single implementation (mandelbrot,
	// nbody, empty) runs it whatever Impls says. Empty means DefaultImpls.
	Impls []string
	// Reps is the number of timed repetitions per row; 0 means DefaultReps.
	Reps int
	// Warmup is the number of untimed repetitions per row before the timed
	// ones; 0 means DefaultWarmup, negative none.
	Warmup int
	// Schedule, if set ("static", "dynamic", "guided"), replaces the default
	// schedule of every For kernel not given one with "name:schedule". The
	// reductions keep Deterministic unless named with a schedule.
	Schedule string
	// Chunk is the chunk size of dynamic and guided schedules; 0 lets the
	// engine choose (see engine.Dynamic and engine.Guided).
	Chunk int
	// Primary and Pin are passed to the process teams (engine.Primary,
	// engine.Pin).
	Primary, Pin bool
	// Fault names a kernel that is made to compute a wrong answer (one bit
	// off, or an error for empty) in its first chunk, or across ranks
	// (RunRanks) in the first chunk of the last rank's part: its rows
	// must fail verification. For testing the verification itself.
	Fault string
	// Progress, if set, is called after every repetition (warm-up or
	// timed) with the number done, the total, and what ran.
	Progress func(done, total int, what string)
}

// Result is one row: a kernel (in one implementation) on one backend at
// one team size. Its JSON
// form has exactly the keys kernel, backend, workers, n, reps, median_s,
// min_s, speedup, efficiency, gbps and verified, and ranks in a run across
// ranks (RunRanks); null stands for a figure
// that does not apply (gbps of a compute kernel; speedup and efficiency
// when no 1-worker row of the backend was measured).
type Result struct {
	Kernel     string   `json:"kernel"`          // the kernel's Spec.Label: "triad/vec", "sum/go:dynamic", "nbody"
	Backend    string   `json:"backend"`         // process, goroutine or serial
	Workers    int      `json:"workers"`         // team size
	N          int      `json:"n"`               // size (see Kernel.NMeaning)
	Reps       int      `json:"reps"`            // timed repetitions
	MedianS    float64  `json:"median_s"`        // median seconds per call (per For call for empty)
	MinS       float64  `json:"min_s"`           // fastest, in the same unit
	Speedup    *float64 `json:"speedup"`         // median of this backend at 1 worker ÷ this median
	Efficiency *float64 `json:"efficiency"`      // speedup ÷ workers
	GBps       *float64 `json:"gbps"`            // bytes moved per repetition ÷ median, in 1e9 B/s
	Verified   bool     `json:"verified"`        // the result equals the serial reference
	Ranks      int      `json:"ranks,omitempty"` // MPI ranks that ran it (RunRanks); 0 in a run on one process

	Name     string    `json:"-"` // the kernel's name, without implementation or schedule
	Impl     string    `json:"-"` // the implementation that ran (ImplGo for single-implementation kernels)
	Schedule string    `json:"-"` // the schedule it ran with ("" for serial)
	Class    Class     `json:"-"`
	Calls    int       `json:"-"` // calls per repetition that a sample is divided by
	Samples  []float64 `json:"-"` // seconds per call of each timed repetition, in order
	Err      error     `json:"-"` // why the row failed (run error or verification)
}

// Failed reports whether the row is not a valid result.
func (r Result) Failed() bool { return !r.Verified || r.Err != nil }

// DefaultWorkers returns 1, 2, 4, … up to engine.UsableCPUs(), with that
// maximum included when it is not a power of two.
func DefaultWorkers() []int { return WorkersUpTo(engine.UsableCPUs()) }

// WorkersUpTo returns 1, 2, 4, … below top, then top (at least 1).
func WorkersUpTo(top int) []int {
	var ws []int
	for w := 1; w < top; w *= 2 {
		ws = append(ws, w)
	}
	return append(ws, max(top, 1))
}

// Spec is a kernel with the implementation and the schedule it runs with.
type Spec struct {
	Kernel   Kernel
	Impl     string // one of Kernel.Impls; "" until chosen (a name given without one)
	Schedule string
	// Label is the Result.Kernel of its rows: the kernel's name, then
	// "/impl" if the kernel has several implementations, then ":schedule"
	// if not its default ("triad/vec", "dot/go:dynamic", "mandelbrot").
	Label string
}

// ParseSpec parses "name[/impl][:schedule]": a kernel, optionally one of
// its implementations, optionally a schedule. A schedule given here wins
// over def (Config.Schedule), which applies to For kernels only. Without an
// implementation the Spec's Impl is empty, to be chosen by Config.Impls,
// except for a kernel that has only one.
func ParseSpec(s, def string) (Spec, error) {
	name, sched, explicit := strings.Cut(strings.TrimSpace(s), ":")
	name, impl, _ := strings.Cut(name, "/")
	k, err := Lookup(name)
	if err != nil {
		return Spec{}, err
	}
	if impl != "" && !slices.Contains(k.Impls, impl) {
		return Spec{}, fmt.Errorf("%w: %q: %s has no implementation %q (it has %s)%s", ErrConfig, s, k.Name, impl, strings.Join(k.Impls, ", "), simdHint(impl))
	}
	if len(k.Impls) == 1 {
		impl = k.Impls[0]
	}
	if def != "" && !slices.Contains(Schedules[:3], def) {
		return Spec{}, fmt.Errorf("%w: schedule %q (want static, dynamic or guided)", ErrConfig, def)
	}
	switch {
	case explicit:
		if !slices.Contains(Schedules, sched) {
			return Spec{}, fmt.Errorf("%w: %q: schedule %q (want one of %s)", ErrConfig, s, sched, strings.Join(Schedules, ", "))
		}
	case def != "" && !k.Reduce:
		sched = def
	default:
		sched = k.Schedule
	}
	sp := Spec{Kernel: k, Impl: impl, Schedule: sched}
	sp.setLabel()
	return sp, nil
}

func (sp *Spec) setLabel() {
	sp.Label = sp.Kernel.Name
	if len(sp.Kernel.Impls) > 1 && sp.Impl != "" {
		sp.Label += "/" + sp.Impl
	}
	if sp.Schedule != sp.Kernel.Schedule {
		sp.Label += ":" + sp.Schedule
	}
}

// Impls lists every implementation name that some kernel of this build
// has, in the order rows are printed: ImplGo, ImplVec, and ImplSIMD in
// programs built with GOEXPERIMENT=simd on amd64.
func Impls() []string {
	var is []string
	for _, impl := range []string{ImplGo, ImplVec, ImplSIMD} {
		for _, k := range suite {
			if slices.Contains(k.Impls, impl) {
				is = append(is, impl)
				break
			}
		}
	}
	return is
}

// simdHint explains a missing simd implementation.
func simdHint(impl string) string {
	if impl == ImplSIMD && !slices.Contains(Impls(), ImplSIMD) {
		return "; the simd implementation needs a build with GOEXPERIMENT=simd on amd64"
	}
	return ""
}

// option returns the engine option of a schedule name.
func option(sched string, chunk int) engine.Option {
	switch sched {
	case "dynamic":
		return engine.Dynamic(chunk)
	case "guided":
		return engine.Guided(chunk)
	case "deterministic":
		return engine.Deterministic(0)
	}
	return engine.Static()
}

// point is one (backend, workers) of a run.
type point struct {
	backend string
	workers int
}

// plan is a checked Config.
type plan struct {
	groups [][]Spec // specs of one kernel (implementations, schedules) that run together
	points []point
	reps   int
	warmup int
}

func (c *Config) plan() (*plan, error) {
	p := &plan{reps: c.Reps, warmup: c.Warmup}
	if p.reps == 0 {
		p.reps = DefaultReps
	}
	if p.reps < 0 {
		return nil, fmt.Errorf("%w: reps = %d is negative", ErrConfig, c.Reps)
	}
	if p.warmup == 0 {
		p.warmup = DefaultWarmup
	}
	p.warmup = max(p.warmup, 0)
	if c.N < 0 {
		return nil, fmt.Errorf("%w: n = %d is negative", ErrConfig, c.N)
	}
	if c.Chunk < 0 {
		return nil, fmt.Errorf("%w: chunk = %d is negative", ErrConfig, c.Chunk)
	}
	for name := range c.Sizes {
		if _, err := Lookup(name); err != nil {
			return nil, fmt.Errorf("%w: sizes: %w", ErrConfig, err)
		}
	}
	impls := c.Impls
	if len(impls) == 0 {
		impls = DefaultImpls
	}
	for _, impl := range impls {
		if !slices.Contains(Impls(), impl) {
			return nil, fmt.Errorf("%w: implementation %q (want %s)%s", ErrConfig, impl, strings.Join(Impls(), ", "), simdHint(impl))
		}
	}
	names := c.Kernels
	if len(names) == 0 {
		for _, k := range suite {
			names = append(names, k.Name)
		}
	}
	seen := map[string]bool{}
	for _, s := range names {
		sp, err := ParseSpec(s, c.Schedule)
		if err != nil {
			if errors.Is(err, ErrUnknownKernel) {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
			return nil, err
		}
		if err := sp.Kernel.checkN(c.n(sp.Kernel)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		var specs []Spec
		if sp.Impl != "" {
			specs = append(specs, sp)
		} else {
			for _, impl := range sp.Kernel.Impls { // the kernel's order
				if slices.Contains(impls, impl) {
					s := sp
					s.Impl = impl
					s.setLabel()
					specs = append(specs, s)
				}
			}
		}
		if len(specs) == 0 && len(c.Kernels) > 0 {
			return nil, fmt.Errorf("%w: %s has none of the implementations %s (it has %s)", ErrConfig, sp.Kernel.Name, strings.Join(impls, ", "), strings.Join(sp.Kernel.Impls, ", "))
		}
		for _, s := range specs {
			if seen[s.Label] {
				continue
			}
			seen[s.Label] = true
			// Specs of one kernel named next to each other (its
			// implementations, "mandelbrot:static,mandelbrot") form a
			// group: they share the arrays and their repetitions
			// interleave.
			if g := len(p.groups) - 1; g >= 0 && p.groups[g][0].Kernel.Name == s.Kernel.Name {
				p.groups[g] = append(p.groups[g], s)
			} else {
				p.groups = append(p.groups, []Spec{s})
			}
		}
	}
	if c.Fault != "" {
		if _, err := Lookup(c.Fault); err != nil {
			return nil, fmt.Errorf("%w: fault: %w", ErrConfig, err)
		}
	}
	backends := c.Backends
	if len(backends) == 0 {
		backends = Backends
	}
	workers := c.Workers
	if len(workers) == 0 {
		workers = DefaultWorkers()
	}
	for _, w := range workers {
		if w < 1 {
			return nil, fmt.Errorf("%w: workers = %d, want ≥ 1", ErrConfig, w)
		}
	}
	workers = slices.Sorted(slices.Values(workers))
	workers = slices.Compact(workers)
	for _, b := range Backends { // row order, whatever the order asked
		if !slices.Contains(backends, b) {
			continue
		}
		if b == BackendSerial {
			p.points = append(p.points, point{b, 1})
			continue
		}
		for _, w := range workers {
			p.points = append(p.points, point{b, w})
		}
	}
	for _, b := range backends {
		if !slices.Contains(Backends, b) {
			return nil, fmt.Errorf("%w: backend %q (want process, goroutine or serial)", ErrConfig, b)
		}
	}
	return p, nil
}

func (c *Config) n(k Kernel) int {
	if n, ok := c.Sizes[k.Name]; ok {
		return n
	}
	if c.N > 0 {
		return c.N
	}
	return k.DefaultN
}

// checkN checks a kernel's size before anything is allocated.
func (k Kernel) checkN(n int) error {
	lo, hi := 1, 1<<40
	switch k.Name {
	case "stencil":
		lo, hi = 3, 1<<15
	case "mandelbrot":
		hi = 1 << 15
	case "nbody":
		hi = 1 << 20
	}
	if n < lo || n > hi {
		return fmt.Errorf("bench: %s: %w: n = %d, want %d ≤ n ≤ %d (%s)", k.Name, ErrBadSize, n, lo, hi, k.NMeaning)
	}
	return nil
}

// Run measures the kernels of cfg and returns one Result per kernel ×
// implementation × backend × team size, in the order kernel,
// implementation (go, vec, simd), backend (process, goroutine, serial),
// workers. A team is started once per (backend, workers) and reused by
// every kernel; all are closed, and every array released, before Run
// returns.
//
// For each kernel, every implementation (and schedule, for a kernel named
// with several next to each other) on every team first runs Warmup untimed
// repetitions; then the timed repetitions go round-robin over all of these
// rows (rep 1 on each, then rep 2, …), so that a slow spell of a shared
// machine is spread over all rows instead of spoiling one. Before the last repetition of each row the outputs are poisoned
// (NaN), and after it they are compared with the serial reference of its
// implementation: Verified says they matched. A row whose kernel failed
// or did not match is kept, with Verified false and Err set; Run itself
// returns an error only for a bad Config, a team that cannot start, or a
// kernel that cannot be set up.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	p, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	teams := map[point]*engine.Team{}
	defer func() {
		for _, t := range teams {
			t.Close()
		}
	}()
	total := 0
	for _, g := range p.groups {
		total += len(g) * len(p.points) * (p.warmup + p.reps)
	}
	progress := cfg.counter(total)
	var results []Result
	for _, g := range p.groups {
		rows, err := runGroup(ctx, &cfg, p, g, teams, progress)
		if err != nil {
			return nil, err
		}
		results = append(results, rows...)
	}
	setRatios(results)
	return results, nil
}

// teamOptions returns the options of the team of pt (not serial): a
// goroutine team, or a process team with cfg's Primary and Pin.
func teamOptions(pt point, cfg *Config) []engine.TeamOption {
	if pt.backend == BackendProcess {
		return []engine.TeamOption{engine.Workers(pt.workers), engine.Process, engine.Primary(cfg.Primary), engine.Pin(cfg.Pin)}
	}
	return []engine.TeamOption{engine.Workers(pt.workers), engine.Goroutine}
}

// team returns the team of pt, starting it on first use.
func team(teams map[point]*engine.Team, pt point, cfg *Config) (*engine.Team, error) {
	if pt.backend == BackendSerial {
		return nil, nil
	}
	if t := teams[pt]; t != nil {
		return t, nil
	}
	t, err := engine.Start(teamOptions(pt, cfg)...)
	if err != nil {
		return nil, fmt.Errorf("bench: start %s team of %d: %w", pt.backend, pt.workers, err)
	}
	teams[pt] = t
	return t, nil
}

// runGroup measures the specs g of one kernel (its implementations, and
// schedules named next to each other) on every point of p. They share one
// instance (the same arrays), and their repetitions interleave like those
// of the teams, so that the ratio of two implementations or two schedules
// is taken under the same conditions.
func runGroup(ctx context.Context, cfg *Config, p *plan, g []Spec, teams map[point]*engine.Team, progress func(string)) ([]Result, error) {
	k := g[0].Kernel
	n := cfg.n(k)
	inst, err := k.setup(n, cfg.Fault == k.Name)
	if err != nil {
		return nil, fmt.Errorf("bench: set up %s at n = %d: %w", g[0].Label, n, err)
	}
	defer inst.close()
	runtime.GC() // the reference's garbage, not the first timed rep's
	// Row i is implementation i/len(p.points) at point i%len(p.points).
	npt := len(p.points)
	rows := make([]Result, len(g)*npt)
	xs := make([]exec, len(rows))
	for i := range rows {
		sp, pt := g[i/npt], p.points[i%npt]
		t, err := team(teams, pt, cfg)
		if err != nil {
			return nil, err
		}
		xs[i] = exec{team: t, sched: option(sp.Schedule, cfg.Chunk), det: sp.Schedule == "deterministic", impl: sp.Impl}
		sched := sp.Schedule
		if t == nil {
			sched = ""
		}
		rows[i] = Result{Kernel: sp.Label, Backend: pt.backend, Workers: pt.workers, N: n, Reps: p.reps,
			Name: k.Name, Impl: sp.Impl, Schedule: sched, Class: k.Class, Calls: inst.calls()}
	}
	label := func(i int, what string) string {
		return fmt.Sprintf("%s %s/%d %s", rows[i].Kernel, rows[i].Backend, rows[i].Workers, what)
	}
	for i := range rows {
		for range p.warmup {
			if rows[i].Err == nil {
				rows[i].Err = inst.run(ctx, xs[i])
			}
			progress(label(i, "warm-up"))
		}
	}
	prev := -1 // the point that ran last
	for rep := range p.reps {
		last := rep == p.reps-1
		for j := range rows {
			// Each round starts one row later, so that no team always
			// follows the same one.
			i := (j + rep) % len(rows)
			r := &rows[i]
			if r.Err == nil {
				if last {
					inst.poison()
				}
				settle(xs, i, prev)
				prev = i
				wake(ctx, xs[i])
				t0 := time.Now()
				err := inst.run(ctx, xs[i])
				dt := time.Since(t0)
				if err != nil {
					r.Err = fmt.Errorf("%s on %s/%d: %w", r.Kernel, r.Backend, r.Workers, err)
				} else {
					r.Samples = append(r.Samples, dt.Seconds()/float64(r.Calls))
				}
				if last && r.Err == nil {
					if err := inst.verify(); err != nil {
						r.Err = fmt.Errorf("%s on %s/%d: %w", r.Kernel, r.Backend, r.Workers, err)
					} else {
						r.Verified = true
					}
				}
			}
			progress(label(i, fmt.Sprintf("rep %d/%d", rep+1, p.reps)))
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for i := range rows {
		r := &rows[i]
		if r.Err != nil {
			r.Verified = false
		}
		if len(r.Samples) > 0 {
			r.MedianS, r.MinS = median(r.Samples), slices.Min(r.Samples)
		}
	}
	return rows, nil
}

// settle prepares point i to be timed. It collects garbage first, as the
// testing package does before each benchmark, so that a collection started
// by the allocations of one row (the goroutine backend allocates per job)
// does not run its mark workers during the next row's timing: on a machine
// with few cores they would take a core from a worker process. Then it gives
// the team that ran last a moment to stop spinning: idle worker processes
// poll shared memory for a while (engine.DefaultSpin) after a job, and that
// poll would steal time from the next team's first call. It waits busily:
// a sleeping coordinator would leave all its Ps idle, and the Go runtime's
// monitor thread (sysmon) comes back from such a pause polling every 20 µs
// for several milliseconds, each poll a context switch on a CPU that the
// next repetition computes on.
func settle(xs []exec, i, prev int) {
	runtime.GC()
	if prev >= 0 && xs[prev].team != xs[i].team && xs[prev].team != nil && xs[prev].team.Backend() == engine.Process {
		for t0 := time.Now(); time.Since(t0) < 2*engine.DefaultSpin; {
		}
	}
}

// wake runs an empty For on the team of x, untimed, just before a timed
// repetition: its participants are then polling for the next job, as in
// back-to-back calls, instead of asleep since the previous round. Waking a
// sleeping worker process costs from tens of microseconds to a millisecond
// (more in a virtual machine) that would otherwise be charged to every
// repetition of a process team but hardly any of a goroutine team.
func wake(ctx context.Context, x exec) {
	if x.team != nil {
		emptyKernel.For(ctx, x.team, x.team.Workers(), emptyArgs{})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// setRatios fills speedup, efficiency and GB/s. The base of the speedup
// is the row of the same kernel and backend at 1 worker (and 1 rank, in a
// run across ranks); efficiency divides by workers × ranks.
func setRatios(rs []Result) {
	base := map[[2]string]float64{}
	for _, r := range rs {
		if r.Workers == 1 && r.Ranks <= 1 && !r.Failed() && r.MedianS > 0 {
			base[[2]string{r.Kernel, r.Backend}] = r.MedianS
		}
	}
	for i := range rs {
		r := &rs[i]
		if r.Failed() || r.MedianS <= 0 {
			continue
		}
		if b, ok := base[[2]string{r.Kernel, r.Backend}]; ok {
			s := b / r.MedianS
			e := s / float64(r.Workers*max(r.Ranks, 1))
			r.Speedup, r.Efficiency = &s, &e
		}
		if k, err := Lookup(r.Name); err == nil {
			if bytes, ok := k.BytesPerRep(r.N); ok {
				g := bytes / (r.MedianS * float64(r.Calls)) / 1e9
				r.GBps = &g
			}
		}
	}
}

// counter returns the function a run calls after each repetition, warm-ups
// included: it counts them and reports the count of total to cfg.Progress,
// if set, with what the repetition was.
func (cfg *Config) counter(total int) func(what string) {
	done := 0
	return func(what string) {
		done++
		if cfg.Progress != nil {
			cfg.Progress(done, total, what)
		}
	}
}
