package engine

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/life"
	"github.com/shmpar/shmpar/engine/internal/placement"
	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/engine/internal/trace"
	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/shm"
)

// envWorker marks a worker process and tells it where it stands:
// "v1;idx=I;ctl=FD;life=FD;ppid=PID;spin=NS;cpu=C;polls=P;prefault=B" (cpu
// -1: not pinned; polls: how many times an idle worker polls the
// generation word before it starts yielding the CPU between polls, see
// idlePolls; prefault 1: the team is crowded, map attached arrays whole).
const envWorker = "SHMPAR_ENGINE_WORKER"

// workerHold is how long an idle worker process, once done spinning, sleeps
// without giving up its P (futex.WaitHeld) before it sleeps as an ordinary
// blocked thread. It covers the gaps of a program that alternates parallel
// loops with serial work. While it lasts, the worker's other goroutines
// (its lifeline watcher) run only when the runtime preempts the sleeper,
// every 10 ms.
const workerHold = time.Second

func init() {
	reexec.Register(reexec.Role{Name: reexec.Worker, Env: envWorker, Run: runWorker})
}

// Main must be the first call in main (and in TestMain). In a process that
// shmpar did not start it returns at once. In a process it started, it runs
// that process's role and never returns: a team's worker serves jobs until
// the team closes or the coordinator dies; a process started by package
// engine/process runs its function and exits. Every package that starts
// processes registers its role at init, so Main runs them all.
//
// Without it, a started process would run the program's main instead:
// Start (and process.Start) detects that (the child exits at once with a
// message) and returns ErrNoMain in the parent.
func Main() { reexec.Main() }

// ProcessName returns the name of the calling process (Python's
// current_process().name): "worker-N" in the worker process of a team
// running as participant N, the name given to process.Start (package
// engine/process) in a process it started, and "main" in any other process.
func ProcessName() string { return reexec.Name() }

// inWorker reports that this process is a team's worker.
func inWorker() bool { return reexec.Current() == reexec.Worker }

type workerEnv struct {
	idx, ctl, life, ppid, cpu int
	spin                      time.Duration
	polls                     int
	prefault                  bool
}

func parseWorkerEnv(v string) (workerEnv, error) {
	f, err := reexec.ParseFields("worker", v, "idx", "ctl", "life", "ppid", "spin", "cpu", "polls", "prefault")
	e := workerEnv{idx: f.Get("idx", -1), ctl: f.Get("ctl", -1), life: f.Get("life", -1),
		ppid: f.Get("ppid", 0), spin: time.Duration(f.Get("spin", 0)), cpu: f.Get("cpu", -1),
		polls: f.Get("polls", spin.WorkerPolls), prefault: f.Get("prefault", 0) == 1}
	if err != nil {
		return e, err
	}
	if e.idx < 0 || e.ctl < 3 || e.life < 3 || e.ppid <= 0 {
		return e, fmt.Errorf("incomplete worker environment %q", v)
	}
	return e, nil
}

func formatWorkerEnv(e workerEnv) string {
	prefault := 0
	if e.prefault {
		prefault = 1
	}
	return fmt.Sprintf("v1;idx=%d;ctl=%d;life=%d;ppid=%d;spin=%d;cpu=%d;polls=%d;prefault=%d", e.idx, e.ctl, e.life, e.ppid, int64(e.spin), e.cpu, e.polls, prefault)
}

// worker is the state of a worker process.
type worker struct {
	env    workerEnv
	c      *control
	slot   *slot
	cache  map[*kernel]workerArgs
	cur    *kernel // the kernel of the last job
	curSeq uint32  // the descriptor's kernel version when cur was looked up
	ctx    Ctx
	r      runner             // reused from job to job
	crowd  placement.Crowding // notices a CPU shared with a busy thread (unpinned only)
	// tmpl is what each job's runner starts from, with its method values
	// made once: made per job, each would be an allocation.
	tmpl runner
}

type workerArgs struct {
	id  uint64
	val any
}

func runWorker(v string) int {
	env, err := parseWorkerEnv(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: worker: %v\n", err)
		return reexec.ExitBadEnv
	}
	reexec.SetName(fmt.Sprintf("worker-%d", env.idx), "worker", env.idx)
	if !reexec.WatchParent(env.ppid, env.life) {
		return reexec.ExitOrphan
	}
	// Ctrl-C reaches the whole process group: the coordinator decides.
	signal.Ignore(syscall.SIGINT)

	seg, err := shm.OpenFile(os.NewFile(uintptr(env.ctl), "shmpar-control"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: worker %d: open control block: %v\n", env.idx, err)
		return reexec.ExitProblem
	}
	c, err := viewControl(seg.Data())
	if err != nil {
		fmt.Fprintf(os.Stderr, "engine: worker %d: %v\n", env.idx, err)
		return reexec.ExitBadEnv
	}
	if env.idx >= len(c.slots) {
		fmt.Fprintf(os.Stderr, "engine: worker %d: no slot (team has %d)\n", env.idx, len(c.slots))
		return reexec.ExitBadEnv
	}
	// Only a pinned worker is locked to its thread. A locked goroutine that
	// the runtime preempts (every 10 ms of a long chunk, or of a held sleep)
	// must hand its P to another thread and be handed it back: two thread
	// wake-ups, each a chance for the OS to move the worker onto the
	// coordinator's CPU.
	if env.cpu >= 0 {
		runtime.LockOSThread()
		if err := placement.Pin(env.cpu); err != nil {
			fmt.Fprintf(os.Stderr, "engine: worker %d: pin to CPU %d: %v (running unpinned)\n", env.idx, env.cpu, err)
		}
	}
	// In a crowded team (more workers than CPUs, counting those of the
	// teams it shares its node with), the static blocks of workers that
	// are not running are stolen by those that are, a different one each
	// job: without prefaulting, each would map those pages again.
	if env.prefault {
		shm.PrefaultAttached(true)
	}
	return newWorker(env, c).serve()
}

// newWorker returns the state of worker env.idx of control block c.
func newWorker(env workerEnv, c *control) *worker {
	w := &worker{env: env, c: c, slot: &c.slots[env.idx], cache: map[*kernel]workerArgs{}}
	w.crowd.Move = w.moveAway
	w.crowd.Seen = w.seen
	w.tmpl = runner{
		claimW: &c.h.claim, done: &c.h.done, stop: &c.h.stop, block: w.block, steal: true,
		keep: int32(c.h.first), resolve: w.resolve, fail: w.fail,
	}
	w.ctx = Ctx{worker: env.idx, stop: &c.h.stop, beat: &w.slot.beat}
	return w
}

// serve reports ready and runs jobs until told to exit.
func (w *worker) serve() int {
	h := w.c.h
	s := w.slot
	me := proc.Self()
	last := h.gen.Load()
	s.chunk.Store(noChunk)
	s.pid.Store(int64(me.PID))
	s.start.Store(me.Start)
	if err := life.Arm(&w.c.life[w.env.idx]); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		// The coordinator then learns of this process's death when it has
		// waited for it, as it always does.
		fmt.Fprintf(os.Stderr, "engine: worker %d: life word: %v\n", w.env.idx, err)
	}
	w.seen()
	s.hello.Store(helloReady)
	wakeCoordinator(h, true)
	for {
		g := w.waitGen(last)
		last = g
		if h.desc.kind.Load() == jobExit {
			trace.Dump(fmt.Sprintf("worker%d", w.env.idx))
			return 0
		}
		trace.Stamp(g, trace.SawGen)
		w.job(g)
		trace.Stamp(g, trace.Left)
		// The coordinator may be waiting for workers to leave a stopped job,
		// or asleep until the chunks are done: a worker wakes it when it
		// leaves a job, not after each chunk it counts (a reduction of a
		// thousand chunks would wake it a thousand times). The coordinator
		// marks itself asleep, then looks at the done count, then sleeps;
		// the worker counts its chunks, then looks at the mark when it
		// leaves. Both are read-modify-writes, full barriers on every
		// platform, so one of the two sees the other.
		if h.stop.Load() != stopNone || claimIdx(h.claim.Load()) == claimClosed {
			wakeCoordinator(h, false)
		} else if h.coordSleeping.Load() != 0 {
			wakeCoordinator(h, true)
		}
	}
}

// wakeCoordinator bumps the notify word and wakes the coordinator if it
// sleeps on it (always when force).
func wakeCoordinator(h *ctlHeader, force bool) {
	h.notify.Add(1)
	if force || h.coordSleeping.Load() != 0 {
		_, _ = futex.Wake((*uint32)(unsafe.Pointer(&h.notify)), 1)
	}
}

// waitGen waits until the generation word differs from last: it spins for
// env.spin, polling env.polls times before it yields the CPU between polls
// (an idle worker answers a new job in well under a microsecond; an
// unpinned one that finds its CPU shared moves, see placement.Crowding),
// then sleeps on the futex: for the first workerHold holding its P (see
// futex.WaitHeld: the Go runtime's monitor then does not wake up every 20 µs
// during the next job, which would cost that job 5-10 % on a small machine),
// then as an ordinary blocked thread.
func (w *worker) waitGen(last uint32) uint32 {
	h := w.c.h
	var crowd *placement.Crowding
	var watch spin.Watcher // nil, not a nil *placement.Crowding
	if w.env.cpu < 0 {
		crowd = &w.crowd // a pinned worker stays where it was put
		watch = crowd
	}
	if spin.Watch(w.env.spin, w.env.polls, func() bool { return h.gen.Load() != last }, watch) {
		return h.gen.Load()
	}
	hold := time.Now().Add(workerHold)
	defer w.slot.sleep.Store(sleepAwake)
	for {
		h.sleepers.Add(1)
		if g := h.gen.Load(); g != last {
			h.sleepers.Add(-1)
			return g
		}
		if d := time.Until(hold); d > 0 {
			w.slot.sleep.Store(sleepHeld)
			_ = futex.WaitHeld((*uint32)(unsafe.Pointer(&h.gen)), last, d)
		} else {
			w.slot.sleep.Store(sleepBlocked)
			_ = futex.Wait((*uint32)(unsafe.Pointer(&h.gen)), last, time.Second)
		}
		h.sleepers.Add(-1)
		if g := h.gen.Load(); g != last {
			if crowd != nil {
				w.seen()
				w.leaveCoordinator()
			}
			return g
		}
	}
}

// How a worker waits for a job, in its slot's sleep word (for tests and
// diagnostics): spinning or running, asleep holding its P
// (futex.WaitHeld), asleep as an ordinary blocked thread.
const (
	sleepAwake   = 0
	sleepHeld    = 1
	sleepBlocked = 2
)

// leaveCoordinator moves a worker that has just been woken for a job off
// the CPU the coordinator woke it from. The OS often wakes a thread there
// (nearly half the wake-ups on a 2-CPU virtual machine, with the other CPU
// idle), and a worker left there would share it with a coordinator that
// runs chunks itself (Primary) or spins for the end of the job, until the
// OS's load balancer separates them some milliseconds later. The caller
// has just recorded the worker's CPU (seen).
func (w *worker) leaveCoordinator() {
	if c := w.c.h.coordCPU.Load(); c >= 0 && c == w.slot.cpu.Load() {
		w.crowd.Move()
	}
}

// moveAway moves this worker off its CPU to one where no other worker of
// the team was last seen, nor the coordinator when it runs chunks itself
// (Primary), if there is one (see placement.MoveTo); it reports whether it
// moved.
// Without such a CPU — as many participants as CPUs, or more — it stays:
// moving would only crowd another participant. (Moving onto the
// coordinator's CPU would put a team of two on one CPU, the worst case.)
func (w *worker) moveAway() bool {
	if _, to := placement.MoveTo(w.busyCPUs()); to < 0 {
		return false
	}
	w.slot.moves.Add(1)
	w.seen()
	return true
}

// busyCPUs returns the CPUs where the other participants were last seen:
// the other workers, and the coordinator when it runs chunks.
func (w *worker) busyCPUs() []int {
	var others []int
	for i := range w.c.slots {
		if i == w.env.idx {
			continue
		}
		if c := w.c.slots[i].cpu.Load(); c >= 0 {
			others = append(others, int(c))
		}
	}
	if w.c.h.first == 1 {
		if c := w.c.h.coordCPU.Load(); c >= 0 {
			others = append(others, int(c))
		}
	}
	return others
}

// seen records the CPU this worker runs on for the others' moves. It is
// called when the worker starts, wakes, moves, and at most every
// millisecond while it waits for jobs (see placement.Crowding): a getcpu
// call after every job would add its 0.2-0.4 µs to the latency of
// back-to-back jobs.
func (w *worker) seen() { w.slot.cpu.Store(int32(placement.Current())) }

// job runs this worker's part of job generation g. It may be late: the
// job may be over, and the descriptor already rewritten for the next one.
// So it reads the plan, then claims; only a successful claim (which checks
// the generation) makes the plan trustworthy, and only then does it look
// up the kernel and decode the arguments.
func (w *worker) job(g uint32) {
	c := w.c
	d := &c.h.desc
	p := plan{
		sched: schedKind(d.sched.Load()),
		n:     int(d.n.Load()),
		lo:    int(d.lo.Load()),
		hi:    int(d.hi.Load()),
		size:  int(d.size.Load()),
		parts: int(d.parts.Load()),
		first: int(d.first.Load()),
		k:     int(d.k.Load()),
	}
	if !p.valid(len(c.list), len(c.slots)) {
		return // torn by the next job's descriptor (or corrupt): claims would fail
	}
	w.r = w.tmpl
	w.r.gen, w.r.p = g, p
	w.r.participate(&w.ctx, slotRec{w.slot})
	w.ctx.endJob()
	w.r = runner{}
}

func (w *worker) block(q int) *atomic.Uint32 { return &w.c.slots[q].block }

// fail records the first failure of the job in this worker's error area and
// stops the job.
func (w *worker) fail(worker, lo, hi int, err error, stack string) {
	c := w.c
	if c.h.errOwner.CompareAndSwap(-1, int32(worker)) {
		kind, msg := uint32(errKindError), err.Error()
		if pe, ok := err.(*PanicError); ok {
			kind, msg = errKindPanic, pe.Value
		}
		c.writeErr(worker, kind, remote.Code(err), lo, hi, msg, stack)
	}
	c.h.stop.CompareAndSwap(stopNone, stopFailed)
	wakeCoordinator(c.h, false)
}

// resolve finds the job's kernel and arguments once this worker has a
// chunk of it.
func (w *worker) resolve(r *runner) bool {
	trace.Stamp(r.gen, trace.Claimed)
	c := w.c
	d := &c.h.desc
	k := w.cur
	if seq := d.kseq.Load(); k == nil || seq != w.curSeq {
		// The name is read only when the coordinator wrote another one.
		name := c.kernelName()
		k = lookup(string(name))
		w.cur, w.curSeq = k, seq
	}
	if k == nil {
		name := c.kernelName()
		w.fail(w.env.idx, 0, 0, fmt.Errorf("%w %q in the worker process (kernels must be registered in init, before engine.Main runs)", ErrUnknownKernel, name), "")
		return false
	}
	id := d.argsID.Load()
	a, ok := w.cache[k]
	if !ok || a.id != id {
		val, err := w.decode(k, c.args[:min(int(d.argsLen.Load()), len(c.args))])
		if err != nil {
			w.fail(w.env.idx, 0, 0, err, "")
			return false
		}
		a = workerArgs{id: id, val: val}
		w.cache[k] = a
	}
	r.k, r.args = k, a.val
	switch r.p.sched {
	case schedGuided:
		r.guided = guidedStarts(r.p.hi-r.p.lo, r.p.parts, r.p.size)
		if r.p.k != len(r.guided)-1 {
			w.fail(w.env.idx, 0, 0, fmt.Errorf("invalid guided job descriptor %+v", r.p), "")
			return false
		}
	case schedList:
		r.list = c.list[:r.p.k]
	}
	if d.reduce.Load() != 0 {
		r.partials = c.partials
	}
	return true
}

// Segments a worker keeps attached. The shared arrays and values that
// arguments name are attached once (shm.Attach) and kept for later jobs,
// each holding a file descriptor and a mapping; a worker that is given
// ever new arrays would run out of descriptors. So after decoding a job's
// arguments a worker closes the segments it attached least recently,
// beyond maxAttached(), but never one that job uses; and if it runs out of
// descriptors anyway it closes all the others and decodes again.
const (
	attachedMax = 64 // at most this many, whatever the file limit
	attachedMin = 4  // at least this many, however low the limit
)

// maxAttached returns how many segments a worker keeps attached: a quarter
// of its file limit, between attachedMin and attachedMax.
func maxAttached() int {
	n := fileLimit() / 4
	if n <= 0 {
		return attachedMax
	}
	return min(max(n, attachedMin), attachedMax)
}

// decode decodes the arguments b of kernel k for a new job, bounding the
// segments kept attached (see attachedMax). Cached arguments of other
// kernels that may hold a segment it closed are dropped.
func (w *worker) decode(k *kernel, b []byte) (any, error) {
	if shm.ReleaseUnlinked() > 0 {
		clear(w.cache) // cached arguments may hold released segments
	}
	mark := shm.AttachClock()
	val, err := decodeArgs(k, b)
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		if shm.TrimAttached(0, mark) > 0 {
			clear(w.cache)
		}
		val, err = decodeArgs(k, b)
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			return nil, fmt.Errorf("%w: %d shared segments are attached for this job alone, and the worker's open-file limit (RLIMIT_NOFILE) is %d: raise it (ulimit -n) or pass fewer arrays: %w",
				ErrFileLimit, shm.Attached(), fileLimit(), err)
		}
	}
	if err != nil {
		return nil, err
	}
	if shm.TrimAttached(maxAttached(), mark) > 0 {
		clear(w.cache)
	}
	return val, nil
}

// valid checks a plan read from shared memory, so that a corrupt descriptor
// is an error and not an out-of-range access.
func (p *plan) valid(listCap, slots int) bool {
	if p.lo < 0 || p.lo > p.hi || p.hi > p.n || p.parts <= 0 || p.parts > slots || p.k < 0 || int64(p.k) > maxChunks {
		return false
	}
	switch p.sched {
	case schedStatic:
		return p.k <= p.parts && p.k <= p.hi-p.lo
	case schedDynamic:
		return p.size > 0 && p.k == ceilDiv(p.hi-p.lo, p.size)
	case schedGuided:
		return p.size > 0 // k checked against the computed starts
	case schedDet:
		first, k := detChunks(p.lo, p.hi, p.size)
		return p.size > 0 && p.first >= first && p.k >= 0 && p.first-first <= k-p.k
	case schedList:
		return p.k <= listCap
	}
	return false
}
