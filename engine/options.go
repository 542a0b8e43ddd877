package engine

import (
	"io"
	"os"
	"time"
)

// Defaults of the team options that are not given (or given as 0).
const (
	DefaultSpin         = 200 * time.Microsecond
	DefaultHelloTimeout = 20 * time.Second
	DefaultMaxArgs      = 64 << 10
	DefaultCancelGrace  = time.Second
	DefaultCloseTimeout = 2 * time.Second
	DefaultStallLimit   = time.Minute

	// MaxWorkers is the largest team Start accepts.
	MaxWorkers = 1024
)

// TeamOption configures the team Start starts: Workers, a Backend
// (Process or Goroutine), Primary, Pin, Spin, ShareNode, HelloTimeout,
// CancelGrace, StallLimit, GOMAXPROCS, MaxArgs, Env, Stdout and Stderr.
// When an option is given twice the later one wins (Env adds to the
// earlier ones).
type TeamOption interface {
	applyTeam(*teamConfig)
}

// KernelOption changes how a kernel is registered (Register,
// RegisterReduce): Idempotent, StallLimit.
type KernelOption interface {
	applyKernel(*kernelConfig)
}

// TeamKernelOption is an option of both Start and Register: StallLimit,
// which sets a team's stall limit or, given to Register, that of one
// kernel's jobs.
type TeamKernelOption interface {
	TeamOption
	KernelOption
}

type teamOption func(*teamConfig)

func (o teamOption) applyTeam(c *teamConfig) { o(c) }

type kernelOption func(*kernelConfig)

func (o kernelOption) applyKernel(c *kernelConfig) { o(c) }

// teamConfig is what the options of Start set; a zero field means the
// option's default (setDefaults).
type teamConfig struct {
	Workers      int
	Backend      Backend
	Pin          bool
	Primary      bool
	Spin         time.Duration
	HelloTimeout time.Duration
	CancelGrace  time.Duration
	StallLimit   time.Duration
	GOMAXPROCS   int
	MaxArgs      int
	Env          []string
	Stdout       io.Writer
	Stderr       io.Writer

	share struct { // ShareNode
		set         bool
		teams, cpus int
	}

	// crowded: the team's workers, with those of the teams it shares its
	// node with (ShareNode), outnumber the CPUs (setDefaults).
	crowded bool
}

// Workers sets the number of participants that run chunks; 0 (the
// default) means UsableCPUs(). With Primary the coordinator is one of
// them. Start fails when n is negative or more than MaxWorkers.
func Workers(n int) TeamOption { return teamOption(func(c *teamConfig) { c.Workers = n }) }

// Pin binds worker process i to the i-th CPU the process may use (modulo
// their number) when on is true; the coordinator is not pinned. The
// default is off. It takes a bool so that a program can pass a
// command-line flag through.
func Pin(on bool) TeamOption { return teamOption(func(c *teamConfig) { c.Pin = on }) }

// Primary makes the coordinator (the goroutine calling For) run chunks
// itself as participant 0 when on is true, like OpenMP's primary thread,
// so Workers-1 worker processes are started. It saves a core's worth of
// waiting and most of the dispatch latency, at the cost of running kernels
// in the coordinator's process: a kernel that crashes the process there
// takes the program down, and a chunk running there cannot be killed after
// CancelGrace (it ends when the kernel returns). The default is off. It
// takes a bool so that a program can pass a command-line flag through.
func Primary(on bool) TeamOption { return teamOption(func(c *teamConfig) { c.Primary = on }) }

// Spin sets how long an idle worker (and the coordinator waiting for a job
// to end) polls shared memory before it sleeps on a futex. Waking a
// sleeping core costs tens of microseconds; spinning costs a core while it
// lasts. 0 (the default) means DefaultSpin, or never on a node that
// ShareNode says is oversubscribed; negative means never spin.
func Spin(d time.Duration) TeamOption { return teamOption(func(c *teamConfig) { c.Spin = d }) }

// ShareNode says that the team shares its node with teams-1 other teams of
// the same size (MPI ranks on one node, say) and that the node has cpus
// CPUs. If their workers together outnumber the CPUs (teams × Workers >
// cpus, Workers resolved first) and Spin was not set (or set to 0), idle
// workers sleep at once instead of spinning: spinning workers would take
// the CPUs the other teams' workers need, and every job would wait for a
// time slice. A Spin that was set is kept, before or after ShareNode. The
// workers of such a team also map each shared array whole when they first
// attach it, as those of a team larger than its CPUs do (see the package
// documentation). Start fails when teams or cpus is less than 1. mpi.Comm.ShareNode gives
// a rank's team this option with the node's figures.
func ShareNode(teams, cpus int) TeamOption {
	return teamOption(func(c *teamConfig) {
		c.share.set, c.share.teams, c.share.cpus = true, teams, cpus
	})
}

// HelloTimeout bounds how long Start (or a restart) waits for a worker
// process to report ready. 0 or less (the default) means
// DefaultHelloTimeout.
func HelloTimeout(d time.Duration) TeamOption {
	return teamOption(func(c *teamConfig) { c.HelloTimeout = d })
}

// CancelGrace sets how long For waits, after its context ended, for
// running chunks to return; worker processes still running a chunk after
// that are killed (and restarted before the next job). 0 or less (the
// default) means DefaultCancelGrace.
func CancelGrace(d time.Duration) TeamOption {
	return teamOption(func(c *teamConfig) { c.CancelGrace = d })
}

// StallLimit, given to Start, sets how long a worker process may go without
// progress while a job waits for it before it is killed (SIGKILL) and
// handled as a worker that died: its chunk is run again if the kernel is
// Idempotent and named in the job's error (ErrStalled) otherwise, and the
// job goes on. A job waits for a worker that holds one of its chunks, or
// that has not joined it while chunks nobody claimed remain. Progress is
// any of: the worker claims or finishes a chunk, the kernel calls
// Ctx.Progress, the worker's process uses CPU time (at least 1 % of the
// time between two looks: the Go runtime's own housekeeping in an idle
// process uses far less; the watcher of a Ctx.Context polls every
// millisecond and uses more, so a kernel that made one is stalled only
// when its process does not run at all). So a kernel that computes for an
// hour in one chunk is never stalled; one that sleeps or waits for I/O for
// longer than the limit without calling Ctx.Progress is. A worker stopped
// by a signal (SIGSTOP, a terminal's ^Z) or stuck in a system call makes
// no progress; one stopped by a debugger (ptrace) always counts as making
// some. The stall is noticed at least the limit and at most the limit +
// limit/8 + 50 ms after the last progress (CPU time is read every eighth
// of the limit, the workers looked at every 50 ms while the coordinator
// waits). Only worker processes are watched, not the coordinator (Primary)
// nor goroutines, and only on Linux (the CPU time comes from the process's
// CPU clock, its state from /proc).
//
// For a team, 0 (the default) means DefaultStallLimit, a minute: long
// enough that no live worker of a compute kernel comes near it (a process
// that runs uses CPU time; a machine has to be frozen for a minute to
// starve one), short enough that a stopped worker does not hang a job for
// ever when its context has no deadline. Negative means never: a job then
// waits for a stopped worker as long as its context allows.
//
// Given to Register or RegisterReduce, StallLimit sets the limit of that
// kernel's jobs in place of the team's: d > 0 is the limit, d < 0 means a
// worker running the kernel is never killed for want of progress, 0 keeps
// the team's. Use it for a kernel that legitimately waits longer than the
// team's limit without using CPU time (on I/O, on another process) and
// cannot call Ctx.Progress while it waits.
func StallLimit(d time.Duration) TeamKernelOption { return stallLimit(d) }

type stallLimit time.Duration

func (d stallLimit) applyTeam(c *teamConfig)     { c.StallLimit = time.Duration(d) }
func (d stallLimit) applyKernel(c *kernelConfig) { c.stallLimit = time.Duration(d) }

// GOMAXPROCS sets the GOMAXPROCS of each worker process (not of the
// coordinator); 0 or less (the default) means 1: a worker runs one chunk
// at a time.
func GOMAXPROCS(n int) TeamOption { return teamOption(func(c *teamConfig) { c.GOMAXPROCS = n }) }

// MaxArgs bounds the size of a job's encoded arguments in bytes; 0 or less
// (the default) means DefaultMaxArgs. Start fails when it is over 1 GiB.
func MaxArgs(bytes int) TeamOption { return teamOption(func(c *teamConfig) { c.MaxArgs = bytes }) }

// Env adds kv ("KEY=value" entries) to each worker process's environment,
// after the coordinator's own; given more than once, the entries of each
// are added in order.
func Env(kv ...string) TeamOption {
	kv = append([]string(nil), kv...)
	return teamOption(func(c *teamConfig) { c.Env = append(c.Env, kv...) })
}

// Stdout sets where the worker processes' standard output goes; nil (the
// default) means os.Stdout.
func Stdout(w io.Writer) TeamOption { return teamOption(func(c *teamConfig) { c.Stdout = w }) }

// Stderr sets where the worker processes' standard error goes; nil (the
// default) means os.Stderr.
func Stderr(w io.Writer) TeamOption { return teamOption(func(c *teamConfig) { c.Stderr = w }) }

func (c *teamConfig) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = UsableCPUs()
	}
	// teams × Workers > cpus, without overflow.
	shared := c.share.set && c.Workers > c.share.cpus/c.share.teams
	c.crowded = shared || c.Workers > UsableCPUs()
	if c.Spin == 0 && shared {
		c.Spin = -1
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = DefaultHelloTimeout
	}
	if c.CancelGrace <= 0 {
		c.CancelGrace = DefaultCancelGrace
	}
	if c.StallLimit == 0 {
		c.StallLimit = DefaultStallLimit
	}
	if c.GOMAXPROCS <= 0 {
		c.GOMAXPROCS = 1
	}
	if c.MaxArgs <= 0 {
		c.MaxArgs = DefaultMaxArgs
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
}
