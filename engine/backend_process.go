package engine

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/reexec"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/shm"
)

// procTeam is the process backend: the coordinator side of a team of worker
// processes sharing one control block.
type procTeam struct {
	cfg    Config
	seg    *shm.Segment
	c      *control
	h      *ctlHeader
	parts  int // participants
	first  int // participant index of the first worker process (1 with Primary)
	procs  []*wproc
	procMu sync.RWMutex // guards procs against PIDs; writers also hold the Team's lock
	cpus   []int
	pid    int

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
	prim    runner     // the coordinator's participant (Primary)
	primCtx Ctx
	primErr *WorkerError
	// t.block and t.primaryFail as func values, made once: a method value
	// made per job would allocate on every For.
	blockFn func(q int) *atomic.Uint32
	failFn  func(w, lo, hi int, err error, stack string)
}

// wproc is one worker process.
type wproc struct {
	idx   int
	cmd   *exec.Cmd
	pid   int
	done  chan struct{} // closed when the process has exited and been reaped
	state *os.ProcessState
	tail  *reexec.Tail
}

func (w *wproc) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// describe says how the process ended, and the signal if one killed it.
func (w *wproc) describe() (string, syscall.Signal) {
	if w.state == nil {
		return "is running", 0
	}
	if ws, ok := w.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("was killed by signal %d (%v)", int(ws.Signal()), ws.Signal()), ws.Signal()
	}
	return fmt.Sprintf("exited with status %d", w.state.ExitCode()), 0
}

func startProcTeam(cfg Config) (_ *procTeam, err error) {
	t := &procTeam{cfg: cfg, parts: cfg.Workers, pid: os.Getpid(), cache: map[*kernel]*argsCache{}}
	t.blockFn, t.failFn = t.block, t.primaryFail
	if cfg.Primary {
		t.first = 1
	}
	if cfg.Pin {
		t.cpus = allowedCPUs()
	}
	l := ctlLayout(t.parts, cfg.MaxArgs)
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
	out := make([]int, t.parts)
	for i := range out {
		if i < t.first {
			out[i] = t.pid
		} else if w := t.procs[i]; w != nil && !w.exited() {
			out[i] = w.pid
		}
	}
	return out
}

func (t *procTeam) maxPartials() int { return int(t.h.partCap) }

// heal starts a worker process for every slot that has none or whose
// process died, and waits for their hello.
func (t *procTeam) heal() error {
	var fresh []*wproc
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() {
			continue
		}
		w, err := t.spawn(i)
		if err != nil {
			for _, f := range fresh {
				_ = f.cmd.Process.Kill()
			}
			return err
		}
		fresh = append(fresh, w)
	}
	if len(fresh) == 0 {
		return nil
	}
	return t.waitHello(fresh)
}

func (t *procTeam) spawn(i int) (*wproc, error) {
	s := &t.c.slots[i]
	s.hello.Store(0)
	s.pid.Store(0)
	s.chunk.Store(noChunk)
	s.chunkGen.Store(0)
	s.inJob.Store(0)
	env := workerEnv{idx: i, ctl: 3, life: 4, ppid: t.pid, spin: max(t.cfg.Spin, 0), cpu: -1}
	if len(t.cpus) > 0 {
		env.cpu = t.cpus[i%len(t.cpus)]
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = workerEnviron(env, t.cfg)
	cmd.ExtraFiles = []*os.File{t.seg.File(), t.lifeR}
	cmd.Stdout = t.cfg.Stdout
	tail := &reexec.Tail{W: t.cfg.Stderr}
	cmd.Stderr = tail
	cmd.SysProcAttr = reexec.SysProcAttr()
	if err := reexec.Start(cmd); err != nil {
		return nil, fmt.Errorf("engine: %w: worker %d: %w", ErrStart, i, err)
	}
	w := &wproc{idx: i, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), tail: tail}
	t.procMu.Lock()
	t.procs[i] = w
	t.procMu.Unlock()
	go t.supervise(w)
	return w, nil
}

// workerEnviron is the coordinator's environment with GOMAXPROCS and the
// worker marker set, then cfg.Env.
func workerEnviron(e workerEnv, cfg Config) []string {
	return reexec.Environ([]string{fmt.Sprintf("GOMAXPROCS=%d", cfg.GOMAXPROCS), envWorker + "=" + formatWorkerEnv(e)}, cfg.Env)
}

// supervise waits for a worker process to exit and wakes the coordinator,
// which may be waiting for it to finish a job.
func (t *procTeam) supervise(w *wproc) {
	_ = w.cmd.Wait()
	w.state = w.cmd.ProcessState
	close(w.done)
	t.deaths.Add(1)
	t.memMu.RLock()
	if !t.unmapped {
		wakeCoordinator(t.h, true)
	}
	t.memMu.RUnlock()
}

// waitHello waits until each worker of ws has reported ready, one exited,
// or HelloTimeout passed.
func (t *procTeam) waitHello(ws []*wproc) error {
	deadline := time.Now().Add(t.cfg.HelloTimeout)
	for {
		v := t.h.notify.Load()
		var pending []*wproc
		for _, w := range ws {
			s := &t.c.slots[w.idx]
			if s.hello.Load() == helloReady && s.pid.Load() == int64(w.pid) {
				continue
			}
			if w.exited() {
				for _, o := range ws {
					_ = o.cmd.Process.Kill()
				}
				return t.helloError(w)
			}
			pending = append(pending, w)
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, o := range ws {
				_ = o.cmd.Process.Kill()
			}
			w := pending[0]
			return fmt.Errorf("engine: %w: worker %d (pid %d) did not report ready within %v (does main call engine.Main() first?)%s",
				ErrStart, w.idx, w.pid, t.cfg.HelloTimeout, reexec.Note("worker", w.tail.String()))
		}
		_ = futex.Wait((*uint32)(unsafe.Pointer(&t.h.notify)), v, 10*time.Millisecond)
	}
}

func (t *procTeam) helloError(w *wproc) error {
	how, sig := w.describe()
	out := w.tail.String()
	if sig == 0 && (w.state.ExitCode() == reexec.ExitNoMain || w.state.ExitCode() == 0) {
		return fmt.Errorf("engine: worker %d (pid %d) %s before reporting ready: %w (a worker re-executes this program, which must hand over to the engine at once)%s",
			w.idx, w.pid, how, ErrNoMain, reexec.Note("worker", out))
	}
	return fmt.Errorf("engine: %w: worker %d (pid %d) %s before reporting ready (does main call engine.Main() first?)%s",
		ErrStart, w.idx, w.pid, how, reexec.Note("worker", out))
}

// prepareArgs puts the job's encoded arguments into the args area (if they
// are not there already) and the descriptor.
func (t *procTeam) prepareArgs(k *kernel, a any) error {
	d := &t.h.desc
	if k.args.Empty || a == nil {
		d.argsID.Store(0)
		d.argsLen.Store(0)
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
			return fmt.Errorf("engine: kernel %q: %w: %d bytes encoded, the limit is %d (Config.MaxArgs); pass bulk data in a shared array",
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
	d.argsID.Store(c.id)
	d.argsLen.Store(uint32(len(c.enc)))
	return nil
}

// maxRecoveries bounds how many times one job recovers from dead workers
// before giving up.
const maxRecoveries = 3

// step is one generation of a job: its plan from chunk index from on, or an
// explicit list of chunks.
type step struct {
	list []listEntry
	from int64
}

func (t *procTeam) run(ctx context.Context, j *job) error {
	if int64(j.p.k) > maxChunks {
		return fmt.Errorf("engine: %w: %d chunks, at most %d", ErrBadRange, j.p.k, int64(maxChunks))
	}
	if err := t.heal(); err != nil {
		return err
	}
	if err := t.prepareArgs(j.k, j.args); err != nil {
		return err
	}
	todo := []step{{}}
	for recoveries := 0; len(todo) > 0; {
		s := todo[0]
		todo = todo[1:]
		more, err := t.dispatch(ctx, j, s)
		if err != nil {
			return err
		}
		if len(more) > 0 {
			if recoveries++; recoveries > maxRecoveries {
				return fmt.Errorf("engine: kernel %q: %w: workers died %d times in one job", j.k.name, ErrWorkerDied, recoveries)
			}
			if err := t.heal(); err != nil {
				return err
			}
			todo = append(more, todo...)
		}
	}
	if j.partials != nil {
		copy(j.partials, t.c.partials[:len(j.partials)])
	}
	return nil
}

// dispatch runs one generation and returns what dead workers left to do.
func (t *procTeam) dispatch(ctx context.Context, j *job, s step) ([]step, error) {
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
	// The claim word first: from here on no worker can claim a chunk of an
	// older job, so the descriptor can be rewritten.
	h.claim.Store(packClaim(g, s.from))
	d.kind.Store(jobRun)
	d.sched.Store(uint32(p.sched))
	d.parts.Store(uint32(t.parts))
	reduce := uint32(0)
	if j.partials != nil {
		reduce = 1
	}
	d.reduce.Store(reduce)
	d.n.Store(int64(p.n))
	d.lo.Store(int64(p.lo))
	d.hi.Store(int64(p.hi))
	d.size.Store(int64(p.size))
	d.first.Store(int64(p.first))
	d.k.Store(int64(p.k))
	if int(d.nameLen.Load()) != len(j.k.name) || string(t.c.kernelName()) != j.k.name {
		copy(d.name[:], j.k.name)
		d.nameLen.Store(uint32(len(j.k.name)))
	}
	h.done.Store(uint64(s.from))
	h.errOwner.Store(-1)
	h.stop.Store(stopNone)
	t.primErr = nil
	deaths := t.deaths.Load() // a worker that dies from here on is noticed

	if t.first == 1 && h.sleepers.Load() > 0 {
		// Where a woken worker should not stay (see leaveCoordinator).
		h.coordCPU.Store(int32(currentCPU()))
	}
	h.gen.Store(g)
	if h.sleepers.Load() > 0 {
		_, _ = futex.Wake((*uint32)(unsafe.Pointer(&h.gen)), math.MaxInt32)
	}
	var stopCB func() bool
	if ctx.Done() != nil {
		t.cbMu.Lock()
		t.liveGen = g
		t.cbMu.Unlock()
		stopCB = context.AfterFunc(ctx, func() { t.cancelJob(ctx, g) })
	}
	if t.first == 1 {
		t.participate(ctx, j, p, g)
	}
	closeIdx := t.wait(g, &p, deaths)
	if stopCB != nil {
		stopCB()
		t.cbMu.Lock()
		t.liveGen = 0
		t.cbMu.Unlock()
	}
	return t.outcome(ctx, j, &p, g, closeIdx)
}

// participate runs the coordinator's share of a job (Primary).
func (t *procTeam) participate(ctx context.Context, j *job, p plan, g uint32) {
	r := &t.prim
	*r = runner{
		gen: g, p: p, claimW: &t.h.claim, done: &t.h.done, stop: &t.h.stop, block: t.blockFn,
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

// cancelJob runs when the context of job g ends: participants stop
// claiming chunks and the coordinator wakes up.
func (t *procTeam) cancelJob(ctx context.Context, g uint32) {
	t.cbMu.Lock()
	defer t.cbMu.Unlock()
	if t.liveGen != g {
		return
	}
	t.h.stop.CompareAndSwap(stopNone, ctxStop(ctx))
	wakeCoordinator(t.h, true)
}

// wait waits for generation g to end: all its chunks done, or it stopped
// (a failure, ctx), or a worker died and the survivors have claimed all
// there was. In the last two cases it closes claiming and waits until no
// live worker is inside the job (after ctx ended, for at most CancelGrace;
// then it kills those workers). It returns the chunk index at which
// claiming was closed, -1 if every chunk was done.
func (t *procTeam) wait(g uint32, p *plan, seen uint64) int64 {
	h := t.h
	k := uint64(p.k)
	died := false
	over := func() bool {
		if h.done.Load() == k || h.stop.Load() != stopNone {
			return true
		}
		if dz := t.deaths.Load(); dz != seen {
			seen, died = dz, true
		}
		return died && (t.live() == 0 || t.exhausted(g, p))
	}
	if !spin.Until(t.cfg.Spin, spin.CoordPolls, over) {
		for !over() {
			v := h.notify.Load()
			if over() {
				break
			}
			h.coordSleeping.Store(1)
			err := futex.Wait((*uint32)(unsafe.Pointer(&h.notify)), v, 50*time.Millisecond)
			h.coordSleeping.Store(0)
			if err != nil && t.live() < t.parts-t.first {
				died = true // belt and braces: a death seen only by its exit
			}
		}
	}
	if h.done.Load() == k {
		return -1
	}
	closeIdx := t.closeClaims(g)
	var graceEnd time.Time
	for t.inJob(g) > 0 {
		if s := h.stop.Load(); s == stopCanceled || s == stopDeadline {
			now := time.Now()
			if graceEnd.IsZero() {
				graceEnd = now.Add(t.cfg.CancelGrace)
			} else if now.After(graceEnd) {
				t.killInJob(g)
				graceEnd = now.Add(time.Hour) // kill once; their deaths end the wait
			}
		}
		v := h.notify.Load()
		if t.inJob(g) == 0 {
			break
		}
		h.coordSleeping.Store(1)
		_ = futex.Wait((*uint32)(unsafe.Pointer(&h.notify)), v, time.Millisecond)
		h.coordSleeping.Store(0)
	}
	return closeIdx
}

// closeClaims ends claiming in generation g and returns the next chunk index
// at that moment.
func (t *procTeam) closeClaims(g uint32) int64 {
	for {
		w := t.h.claim.Load()
		if !sameGen(w, g) || claimIdx(w) == claimClosed {
			return claimIdx(w)
		}
		if t.h.claim.CompareAndSwap(w, packClaim(g, claimClosed)) {
			return claimIdx(w)
		}
	}
}

// exhausted reports whether every chunk of generation g has been claimed.
func (t *procTeam) exhausted(g uint32, p *plan) bool {
	if p.sched == schedStatic {
		for q := range p.k {
			if t.c.slots[q].block.Load() != g {
				return false
			}
		}
		return true
	}
	w := t.h.claim.Load()
	return !sameGen(w, g) || claimIdx(w) >= int64(p.k)
}

// live counts the worker processes that have not exited.
func (t *procTeam) live() int {
	n := 0
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() {
			n++
		}
	}
	return n
}

// inJob counts the live worker processes inside generation g.
func (t *procTeam) inJob(g uint32) int {
	n := 0
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].inJob.Load() == g {
			n++
		}
	}
	return n
}

func (t *procTeam) killInJob(g uint32) {
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].inJob.Load() == g {
			_ = w.cmd.Process.Kill()
		}
	}
}

// outcome turns the end state of generation g into the job's result, or
// into the steps that finish it after workers died.
func (t *procTeam) outcome(ctx context.Context, j *job, p *plan, g uint32, closeIdx int64) ([]step, error) {
	h := t.h
	if h.done.Load() == uint64(p.k) {
		return nil, nil
	}
	switch stop := h.stop.Load(); stop {
	case stopFailed:
		return nil, t.failure(j, int(h.errOwner.Load()), g)
	case stopCanceled, stopDeadline:
		// Workers killed after the grace period are restarted by the next
		// job; what they left undone does not matter to a canceled job.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, stopErr(stop)
	}
	// Workers died. What they were running is lost; what nobody claimed
	// is still to do.
	entry := func(ci int64) listEntry {
		switch p.sched {
		case schedList:
			return t.c.list[ci]
		case schedGuided:
			lo, hi := p.chunk(int(ci), guidedStarts(p.hi-p.lo, p.parts, p.size))
			return listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
		}
		lo, hi := p.chunk(int(ci), nil)
		return listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
	}
	var list []listEntry
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		s := &t.c.slots[i]
		ci := s.chunk.Load()
		if !w.exited() || s.chunkGen.Load() != g || ci < 0 || ci >= int64(p.k) {
			continue
		}
		e := entry(ci)
		if !j.k.idempotent {
			how, sig := w.describe()
			return nil, &WorkerError{
				Kernel:  j.k.name,
				Worker:  i,
				Lo:      int(e.lo),
				Hi:      int(e.hi),
				Failure: Failure{PID: w.pid, Signal: sig, Output: w.tail.String(), Err: fmt.Errorf("%w: it %s while running the chunk; the kernel is not registered as Idempotent, so the chunk was not run again", ErrWorkerDied, how)},
			}
		}
		list = append(list, e)
	}
	var steps []step
	switch {
	case p.sched == schedStatic:
		for q := range p.k {
			if t.c.slots[q].block.Load() != g {
				list = append(list, entry(int64(q)))
			}
		}
	case closeIdx >= 0 && closeIdx < int64(p.k):
		if p.sched == schedList {
			list = append(list, t.c.list[closeIdx:p.k]...)
		} else {
			steps = append(steps, step{from: closeIdx})
		}
	}
	if len(list) > 0 {
		steps = append([]step{{list: list}}, steps...)
	}
	if len(steps) == 0 {
		// Every chunk was claimed and no dead worker held one, yet not all
		// are done: a worker died between its last claim and its report.
		return nil, fmt.Errorf("engine: kernel %q: %w: %d of %d chunks done and none to re-run", j.k.name, ErrWorkerDied, h.done.Load(), p.k)
	}
	return steps, nil
}

// failure builds the WorkerError of the first failed chunk, reported by
// participant owner.
func (t *procTeam) failure(j *job, owner int, g uint32) error {
	if owner == 0 && t.first == 1 {
		if t.primErr != nil {
			return t.primErr
		}
	}
	if owner < t.first || owner >= t.parts {
		return &WorkerError{Kernel: j.k.name, Worker: owner, Failure: Failure{Err: fmt.Errorf("job failed, but the failing worker index %d is out of range", owner)}}
	}
	w := t.procs[owner]
	if w.exited() && t.c.slots[owner].inJob.Load() == g {
		how, sig := w.describe()
		return &WorkerError{
			Kernel:  j.k.name,
			Worker:  owner,
			Failure: Failure{PID: w.pid, Signal: sig, Output: w.tail.String(), Err: fmt.Errorf("%w: it %s while reporting a failure", ErrWorkerDied, how)},
		}
	}
	kind, sentinel, lo, hi, msg, stack := t.c.readErr(owner)
	var err error
	switch kind {
	case errKindPanic:
		err = &PanicError{Value: msg}
	default:
		err = remote.New(msg, sentinel)
	}
	return &WorkerError{Kernel: j.k.name, Worker: owner, Lo: lo, Hi: hi, Failure: Failure{PID: w.pid, Err: err, Stack: stack}}
}

// close asks the workers to exit, closes the lifeline, kills what is left
// (each step bounded), and releases the control block.
func (t *procTeam) close() error {
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
