package engine

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/life"
	"github.com/shmpar/shmpar/engine/internal/placement"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/engine/internal/supervise"
	"github.com/shmpar/shmpar/engine/internal/trace"
	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/shm"
)

// procTeam is the process backend: the coordinator side of a team of worker
// processes sharing one control block.
type procTeam struct {
	cfg    teamConfig
	seg    *shm.Segment
	c      *control
	h      *ctlHeader
	parts  int // participants
	first  int // participant index of the first worker process (1 with Primary)
	procs  []*wproc
	procMu sync.RWMutex // guards procs against PIDs; writers also hold the Team's lock
	cpus   []int
	pid    int
	polls  int // how long idle workers poll before yielding (workerEnv.polls)

	lifeR, lifeW *os.File // lifeline pipe: workers watch lifeR for EOF

	deaths atomic.Uint64 // bumped by supervise when a worker exits

	memMu    sync.RWMutex // supervisors touch the block under R; close unmaps under W
	unmapped bool

	// argument blobs
	blobs  uint64 // last blob id handed out
	areaID uint64 // blob in the args area now
	cache  map[*kernel]*argsCache
	buf    bytes.Buffer

	// the job in flight
	cbMu    sync.Mutex // orders a context callback against the end of its job
	liveGen uint32     // generation of the running job, 0 between jobs
	liveWID uint64     // the registration watching its context, 0 if none
	// One context.AfterFunc registration serves the jobs of one context
	// (registering and stopping one costs about 190 ns here, 40 % of an
	// empty For): watchCtx is the context it watches, watchID numbers it,
	// watchStop ends it. Kept across jobs, under the Team's lock; a job
	// with another context (or one whose type cannot be compared) replaces
	// it, Close ends it.
	watchCtx  context.Context
	watchID   uint64
	watchStop func() bool
	prim      runner // the coordinator's participant (Primary)
	primCtx   Ctx
	primErr   *WorkerError
	// Chunks done: h.done counts those of the worker processes and is never
	// reset, so a job does not take its line back from them to clear it;
	// doneBase is its value when the job was posted (nobody counts between
	// jobs), own counts the coordinator's chunks (Primary), and the job is
	// over when h.done reaches doneEnd.
	doneBase, doneEnd uint64
	postBase          uint64 // doneBase when the job now ending was posted
	own               atomic.Uint64
	kernel            *kernel // the kernel whose name the descriptor holds
	jobs              uint64  // generations posted
	// sleeps counts the coordinator's futex sleeps in wait, lateWakes those
	// that ended by their timeout with the job over (for the tests).
	sleeps, lateWakes atomic.Uint64
	// The stall watch (see watchStalls): one Watch per slot, started when
	// a job's wait first sleeps; and the workers it killed, for the
	// job's error.
	stall    []supervise.Watch
	stallGen uint32    // generation the watches were started for
	stallAt  time.Time // last look
	stalled  []stallKill

	// t.block and t.primaryFail as func values, made once: a method value
	// made per job would allocate on every For.
	blockFn func(q int) *atomic.Uint32
	failFn  func(w, lo, hi int, err error, stack string)

	traceRun int64 // when run was entered (a shmpartrace build)
}

func startProcTeam(cfg teamConfig) (_ *procTeam, err error) {
	t := &procTeam{cfg: cfg, parts: cfg.Workers, pid: os.Getpid(), cache: map[*kernel]*argsCache{}}
	t.blockFn, t.failFn = t.block, t.primaryFail
	if cfg.Primary {
		t.first = 1
	}
	if cfg.Pin {
		t.cpus = placement.Allowed()
	}
	t.polls = idlePolls(t.parts+1-t.first, UsableCPUs())
	l := ctlLayout(t.parts, t.first, cfg.MaxArgs)
	t.seg, err = shm.CreateAnon("shmpar-engine", shm.Meta{DType: shm.Uint8, Shape: []int{int(l.size)}, Kind: shm.KindEngine})
	if err != nil {
		return nil, fmt.Errorf("engine: Start: control block: %w", err)
	}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	t.c, err = initControl(t.seg.Data(), l)
	if err != nil {
		return nil, fmt.Errorf("engine: Start: %w", err)
	}
	t.h = t.c.h
	t.h.errOwner.Store(-1)
	t.h.coordCPU.Store(-1)
	for i := range t.c.slots {
		t.c.slots[i].cpu.Store(-1)
	}
	t.procs = make([]*wproc, t.parts)
	t.stall = make([]supervise.Watch, t.parts)
	t.stalled = make([]stallKill, t.parts)
	t.lifeR, t.lifeW, err = os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("engine: Start: lifeline pipe: %w", err)
	}
	t.prim.fail = t.primaryFail
	if err := t.heal(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *procTeam) pids() []int {
	t.procMu.RLock()
	defer t.procMu.RUnlock()
	t.memMu.RLock()
	defer t.memMu.RUnlock()
	out := make([]int, t.parts)
	for i := range out {
		if i < t.first {
			out[i] = t.pid
		} else if w := t.procs[i]; w != nil && !w.exited() && (t.unmapped || t.c.life[i].Load()&life.Died == 0) {
			out[i] = w.pid
		}
	}
	return out
}

func (t *procTeam) maxPartials() int { return int(t.h.partCap) }

// prepareArgs puts the job's encoded arguments into the args area (if they
// are not there already) and the descriptor.
func (t *procTeam) prepareArgs(k *kernel, a any) error {
	d := &t.h.desc
	if k.args.Empty || a == nil {
		set64(&d.argsID, 0)
		set32(&d.argsLen, 0)
		return nil
	}
	c := t.cache[k]
	if c == nil {
		c = &argsCache{}
		t.cache[k] = c
	}
	if !(k.args.Stable && c.valOK && a == c.val) {
		if err := encodeArgs(k, a, &t.buf); err != nil {
			return err
		}
		if t.buf.Len() > len(t.c.args) {
			return fmt.Errorf("engine: kernel %q: arguments: %w: %d bytes encoded, the limit is %d (the team's MaxArgs); pass bulk data in a shared array",
				k.name, ErrArgsTooLarge, t.buf.Len(), len(t.c.args))
		}
		// Same bytes, same value, unless a handle inside now names
		// another segment at a reused path: then the workers must decode
		// (and release what is gone) again.
		if c.id == 0 || !k.args.Plain || !bytes.Equal(c.enc, t.buf.Bytes()) {
			t.blobs++
			c.id = t.blobs
			c.enc = append(c.enc[:0], t.buf.Bytes()...)
		}
		c.val, c.valOK = a, k.args.Stable
	}
	if t.areaID != c.id {
		copy(t.c.args, c.enc)
		t.areaID = c.id
	}
	set64(&d.argsID, c.id)
	set32(&d.argsLen, uint32(len(c.enc)))
	return nil
}

// set32, setI32, set64 and setI64 store v in a word of the control block
// unless it holds v already: reading a line that no other process has
// written since is a hit in this CPU's cache, while a store must first take
// the line back from every worker that read it (see control.go).
func set32(a *atomic.Uint32, v uint32) {
	if a.Load() != v {
		a.Store(v)
	}
}

func setI32(a *atomic.Int32, v int32) {
	if a.Load() != v {
		a.Store(v)
	}
}

func set64(a *atomic.Uint64, v uint64) {
	if a.Load() != v {
		a.Store(v)
	}
}

func setI64(a *atomic.Int64, v int64) {
	if a.Load() != v {
		a.Store(v)
	}
}

// maxRecoveries bounds how many recoveries from dead workers in a row may
// finish no chunk before a job is given up: a job never loops for ever on
// workers that die as soon as they start, while one whose workers keep
// dying but keep finishing chunks goes on until its work is done.
const maxRecoveries = 3

// step is one generation of a job: its plan from chunk index from on, or an
// explicit list of chunks.
type step struct {
	list []listEntry
	from int64
}

func (t *procTeam) run(ctx context.Context, j *job) error {
	if err := t.heal(); err != nil {
		return err
	}
	if err := t.prepareArgs(j.k, j.args); err != nil {
		return err
	}
	t.traceRun = trace.Now()
	todo := []step{{}}
	var rec *recovery // made by outcome after the first death
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		more, err := t.dispatch(ctx, j, s, &rec)
		if err != nil {
			return rec.join(err)
		}
		if len(more) > 0 {
			if rec.barren > maxRecoveries {
				return rec.join(fmt.Errorf("engine: kernel %q: %w: workers died %d times in a row without finishing a chunk; the job was given up with chunks not run",
					j.k.name, ErrWorkerDied, rec.barren))
			}
			if err := t.heal(); err != nil {
				return rec.join(err)
			}
			todo = append(more, todo...)
		}
	}
	if err := rec.join(nil); err != nil {
		return err
	}
	if j.partials != nil {
		copy(j.partials, t.c.partials[:len(j.partials)])
	}
	return nil
}

// dispatch runs one generation and returns what dead workers left to do.
func (t *procTeam) dispatch(ctx context.Context, j *job, s step, rec **recovery) ([]step, error) {
	h, d := t.h, &t.h.desc
	p := j.p
	if s.list != nil {
		p.sched, p.k = schedList, len(s.list)
		copy(t.c.list, s.list)
	}
	g := h.gen.Load() + 1
	if g == 0 { // 0 means "no job" in inJob and liveGen
		g = 1
	}
	reduce := uint32(0)
	if j.partials != nil {
		reduce = 1
	}
	post := packClaim(g, s.from)
	// The claim word first when the descriptor changes: from there on no
	// worker can claim a chunk of an older job, so the descriptor can be
	// rewritten. Only what changed is (see set32). When nothing does (a
	// job like the last one, the common case of a loop of For calls), a
	// late worker of the last job reads the same descriptor either way, so
	// the claim word is stored just before the generation: the post line,
	// which idle workers keep reading, is then taken back from them once
	// per job instead of twice.
	same := t.kernel == j.k && d.kind.Load() == jobRun && d.sched.Load() == uint32(p.sched) &&
		d.parts.Load() == uint32(t.parts) && d.reduce.Load() == reduce && d.n.Load() == int64(p.n) &&
		d.lo.Load() == int64(p.lo) && d.hi.Load() == int64(p.hi) && d.size.Load() == int64(p.size) &&
		d.first.Load() == int64(p.first) && d.k.Load() == int64(p.k)
	if !same {
		h.claim.Store(post)
		set32(&d.kind, jobRun)
		set32(&d.sched, uint32(p.sched))
		set32(&d.parts, uint32(t.parts))
		set32(&d.reduce, reduce)
		setI64(&d.n, int64(p.n))
		setI64(&d.lo, int64(p.lo))
		setI64(&d.hi, int64(p.hi))
		setI64(&d.size, int64(p.size))
		setI64(&d.first, int64(p.first))
		setI64(&d.k, int64(p.k))
		if t.kernel != j.k {
			copy(d.name[:], j.k.name)
			d.nameLen.Store(uint32(len(j.k.name)))
			d.kseq.Add(1)
			t.kernel = j.k
		}
	}
	setI32(&h.errOwner, -1)
	set32(&h.stop, stopNone)
	t.primErr = nil
	t.own.Store(0)
	deaths := t.deaths.Load() // a worker that dies from here on is noticed

	if t.first == 1 && (h.sleepers.Load() > 0 || t.jobs%coordCPUEvery == 0) {
		// Where a woken worker should not stay (see leaveCoordinator),
		// and where a crowded one should not move (see moveAway).
		h.coordCPU.Store(int32(placement.Current()))
	}
	t.jobs++
	if same {
		h.claim.Store(post)
	}
	h.gen.Store(g)
	trace.At(g, trace.Run, t.traceRun)
	trace.Stamp(g, trace.Posted)
	if h.sleepers.Load() > 0 {
		_, _ = futex.Wake((*uint32)(unsafe.Pointer(&h.gen)), math.MaxInt32)
	}
	if j.prog != nil {
		start := t.doneBase
		j.prog.StepStarted(func() int { return int(h.done.Load()-start) + int(t.own.Load()) })
	}
	watched := ctx.Done() != nil
	if watched {
		reuse := t.watchStop != nil && sameContext(t.watchCtx, ctx)
		if !reuse {
			if t.watchStop != nil {
				t.watchStop()
			}
			t.watchID++
			t.watchCtx = ctx
		}
		t.cbMu.Lock()
		t.liveGen, t.liveWID = g, t.watchID
		t.cbMu.Unlock()
		switch id := t.watchID; {
		case !reuse:
			// Registered after liveGen is set: a context that has ended
			// already stops this job at once.
			t.watchStop = context.AfterFunc(ctx, func() { t.ctxEnded(ctx, id) })
		case ctx.Err() != nil:
			// The registration fired between two jobs of ctx (or is
			// about to): it does not fire again.
			t.ctxEnded(ctx, id)
		}
	}
	if t.first == 1 {
		t.participate(ctx, j, p, g)
		trace.Stamp(g, trace.OwnDone)
	}
	limit := t.cfg.StallLimit
	if j.k.stallLimit != 0 {
		limit = j.k.stallLimit
	}
	t.doneEnd = t.doneBase + uint64(int64(p.k)-s.from) - t.own.Load()
	t.postBase = t.doneBase
	closeIdx := t.wait(g, &p, deaths, limit)
	// Nobody counts chunks of g any more: the job is over, or wait saw
	// every live worker leave it.
	t.doneBase = h.done.Load()
	trace.Stamp(g, trace.SawDone)
	j.prog.StepOver(int(t.doneIn(s.from) - uint64(s.from)))
	if watched {
		t.cbMu.Lock()
		t.liveGen, t.liveWID = 0, 0
		t.cbMu.Unlock()
	}
	return t.outcome(ctx, j, &p, g, s.from, closeIdx, rec)
}

// participate runs the coordinator's share of a job (Primary).
func (t *procTeam) participate(ctx context.Context, j *job, p plan, g uint32) {
	r := &t.prim
	*r = runner{
		gen: g, p: p, claimW: &t.h.claim, done: &t.own, stop: &t.h.stop, block: t.blockFn,
		resolved: true, k: j.k, args: j.args, fail: t.failFn,
	}
	switch p.sched {
	case schedGuided:
		r.guided = guidedStarts(p.hi-p.lo, p.parts, p.size)
	case schedList:
		r.list = t.c.list[:p.k]
	}
	if j.partials != nil {
		r.partials = t.c.partials
	}
	t.primCtx.worker, t.primCtx.stop, t.primCtx.ctx = 0, &t.h.stop, ctx
	r.participate(&t.primCtx, nil)
	t.primCtx.ctx = nil
}

func (t *procTeam) block(q int) *atomic.Uint32 { return &t.c.slots[q].block }

func (t *procTeam) primaryFail(w, lo, hi int, err error, stack string) {
	if t.h.errOwner.CompareAndSwap(-1, int32(w)) {
		t.primErr = &WorkerError{Kernel: t.prim.k.name, Worker: w, Lo: lo, Hi: hi, Failure: Failure{PID: t.pid, Err: err, Stack: stack}}
	}
	t.h.stop.CompareAndSwap(stopNone, stopFailed)
}

// ctxEnded runs when ctx, watched by registration id, ends: if the running
// job is watched by it, its participants stop claiming chunks and the
// coordinator wakes up; between jobs, or during a job of another context,
// it does nothing.
func (t *procTeam) ctxEnded(ctx context.Context, id uint64) {
	t.cbMu.Lock()
	defer t.cbMu.Unlock()
	if t.liveGen == 0 || t.liveWID != id {
		return
	}
	t.h.stop.CompareAndSwap(stopNone, ctxStop(ctx))
	wakeCoordinator(t.h, true)
}

// close asks the workers to exit, closes the lifeline, kills what is left
// (each step bounded), and releases the control block.
func (t *procTeam) close() error {
	trace.Dump("coord")
	if t.watchStop != nil {
		t.watchStop()
		t.watchCtx, t.watchStop = nil, nil // the callback sees liveGen 0
	}
	if t.h != nil {
		t.h.desc.kind.Store(jobExit)
		t.h.gen.Add(1)
		_, _ = futex.Wake((*uint32)(unsafe.Pointer(&t.h.gen)), math.MaxInt32)
	}
	t.waitExit(DefaultCloseTimeout / 2)
	if t.lifeW != nil {
		t.lifeW.Close()
	}
	t.waitExit(DefaultCloseTimeout / 4)
	for _, w := range t.procs {
		if w != nil && !w.exited() {
			_ = w.cmd.Process.Kill()
		}
	}
	var stuck error
	if !t.waitExit(DefaultCloseTimeout) {
		stuck = fmt.Errorf("engine: Close: worker processes did not exit after SIGKILL")
	}
	t.memMu.Lock()
	t.unmapped = true
	t.memMu.Unlock()
	if t.lifeR != nil {
		t.lifeR.Close()
	}
	var err error
	if t.seg != nil {
		err = t.seg.Close()
	}
	if stuck != nil {
		return stuck
	}
	return err
}

// waitExit waits up to d for every worker process to exit.
func (t *procTeam) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, w := range t.procs {
		if w == nil {
			continue
		}
		select {
		case <-w.done:
		case <-timer.C:
			return false
		}
	}
	return true
}

// coordCPUEvery is how often, in jobs, a coordinator that runs chunks
// (Primary) records its CPU in the header for the workers (getcpu is a
// system call of 0.2-0.4 µs in a virtual machine): a worker that moves off
// a crowded CPU must not move onto the coordinator's.
const coordCPUEvery = 256

// busyPolls is how many times an idle worker polls the generation word
// before it yields the CPU between polls, when the team's spinning threads
// fit the CPUs: a few microseconds, longer than the gap between two
// back-to-back jobs, so that a worker answers the next job within one
// cache-line transfer instead of when its current sched_yield returns
// (0.3-0.7 µs on a virtual machine, half of it on average per job).
const busyPolls = 2048

// idlePolls returns the polls an idle worker makes before it yields: many
// (busyPolls) when the threads that spin — the workers, and the coordinator
// when it does not run chunks itself — fit the usable CPUs; few
// (spin.WorkerPolls) when they outnumber them, where a spinning worker may
// hold the CPU that the coordinator, or a worker with a chunk, needs.
func idlePolls(threads, cpus int) int {
	if threads <= cpus {
		return busyPolls
	}
	return spin.WorkerPolls
}

// sameContext reports whether a and b are the same context. Only pointers
// are compared (the standard library's cancelable contexts are): == on two
// values of one struct type may panic (a field that holds a map, directly
// or behind an interface), so those are never the same here.
func sameContext(a, b context.Context) bool {
	if a == nil || b == nil {
		return false
	}
	if ta := reflect.TypeOf(a); ta != reflect.TypeOf(b) || ta.Kind() != reflect.Pointer {
		return false
	}
	return a == b
}
