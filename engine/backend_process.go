package engine

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/shm"
)

// procTeam is the process backend: the coordinator side of a team of worker
// processes sharing one control block.
type procTeam struct {
	cfg   Config
	seg   *shm.Segment
	c     *control
	h     *ctlHeader
	parts int // participants
	first int // participant index of the first worker process (1 with Primary)
	procs []*wproc
	cpus  []int
	pid   int

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
}

// wproc is one worker process.
type wproc struct {
	idx   int
	cmd   *exec.Cmd
	pid   int
	done  chan struct{} // closed when the process has exited and been reaped
	state *os.ProcessState
	tail  *tailWriter
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
		return nil, err
	}
	t.h = t.c.h
	t.h.errOwner.Store(-1)
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
	s.staticDone.Store(0)
	s.endGen.Store(t.h.gen.Load())
	env := workerEnv{idx: i, ctl: 3, life: 4, ppid: t.pid, spin: max(t.cfg.Spin, 0), cpu: -1}
	if len(t.cpus) > 0 {
		env.cpu = t.cpus[i%len(t.cpus)]
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{os.Args[0]}
	cmd.Env = workerEnviron(env, t.cfg)
	cmd.ExtraFiles = []*os.File{t.seg.File(), t.lifeR}
	cmd.Stdout = t.cfg.Stdout
	tail := &tailWriter{w: t.cfg.Stderr}
	cmd.Stderr = tail
	cmd.SysProcAttr = sysProcAttr()
	if err := startCmd(cmd); err != nil {
		return nil, fmt.Errorf("engine: %w %d: %w", ErrStart, i, err)
	}
	w := &wproc{idx: i, cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), tail: tail}
	t.procs[i] = w
	go t.supervise(w)
	return w, nil
}

// workerEnviron is the coordinator's environment with GOMAXPROCS and the
// worker marker set, then cfg.Env.
func workerEnviron(e workerEnv, cfg Config) []string {
	env := make([]string, 0, len(os.Environ())+3+len(cfg.Env))
	gorace := ""
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, envWorker+"=") {
			continue
		}
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			gorace = v + " "
			continue
		}
		env = append(env, kv)
	}
	env = append(env, fmt.Sprintf("GOMAXPROCS=%d", cfg.GOMAXPROCS), envWorker+"="+formatWorkerEnv(e))
	if raceEnabled {
		gorace += "atexit_sleep_ms=0"
	}
	if gorace != "" {
		env = append(env, "GORACE="+strings.TrimSpace(gorace))
	}
	return append(env, cfg.Env...)
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
				ErrStart, w.idx, w.pid, t.cfg.HelloTimeout, tailNote(w.tail.String()))
		}
		_ = futex.Wait((*uint32)(unsafe.Pointer(&t.h.notify)), v, 10*time.Millisecond)
	}
}

func (t *procTeam) helloError(w *wproc) error {
	how, sig := w.describe()
	out := w.tail.String()
	if sig == 0 && (w.state.ExitCode() == exitNoMain || w.state.ExitCode() == 0) {
		return fmt.Errorf("engine: worker %d (pid %d) %s before reporting ready: %w (a worker re-executes this program, which must hand over to the engine at once)%s",
			w.idx, w.pid, how, ErrNoMain, tailNote(out))
	}
	return fmt.Errorf("engine: %w: worker %d (pid %d) %s before reporting ready (does main call engine.Main() first?)%s",
		ErrStart, w.idx, w.pid, how, tailNote(out))
}

func tailNote(s string) string {
	if s == "" {
		return ""
	}
	return "\nworker stderr (tail):\n" + s
}

// prepareArgs puts the job's encoded arguments into the args area (if they
// are not there already) and the descriptor.
func (t *procTeam) prepareArgs(k *kernel, a any) error {
	d := &t.h.desc
	if k.empty || a == nil {
		d.argsID.Store(0)
		d.argsLen.Store(0)
		return nil
	}
	c := t.cache[k]
	if c == nil {
		c = &argsCache{}
		t.cache[k] = c
	}
	if !(k.stable && c.valOK && a == c.val) {
		if err := encodeArgs(k, a, &t.buf); err != nil {
			return err
		}
		if t.buf.Len() > len(t.c.args) {
			return fmt.Errorf("engine: kernel %q: %w: %d bytes encoded, the limit is %d (Config.MaxArgs); pass bulk data in a shared array",
				k.name, ErrArgsTooLarge, t.buf.Len(), len(t.c.args))
		}
		if c.id == 0 || !bytes.Equal(c.enc, t.buf.Bytes()) {
			t.blobs++
			c.id = t.blobs
			c.enc = append(c.enc[:0], t.buf.Bytes()...)
		}
		c.val, c.valOK = a, k.stable
	}
	if t.areaID != c.id {
		copy(t.c.args, c.enc)
		t.areaID = c.id
	}
	d.argsID.Store(c.id)
	d.argsLen.Store(uint32(len(c.enc)))
	return nil
}

// maxRecoveries bounds how many times one job re-runs the chunks of dead
// workers before giving up.
const maxRecoveries = 3

func (t *procTeam) run(ctx context.Context, j *job) error {
	if err := t.heal(); err != nil {
		return err
	}
	if err := t.prepareArgs(j.k, j.args); err != nil {
		return err
	}
	var list []listEntry
	for attempt := 0; ; attempt++ {
		lost, err := t.dispatch(ctx, j, list)
		if err != nil || len(lost) == 0 {
			if err == nil && j.partials != nil {
				copy(j.partials, t.c.partials[:len(j.partials)])
			}
			return err
		}
		if attempt == maxRecoveries {
			return fmt.Errorf("engine: kernel %q: %w: workers died %d times in one job", j.k.name, ErrWorkerDied, attempt+1)
		}
		if err := t.heal(); err != nil {
			return err
		}
		list = lost
	}
}

// dispatch runs one generation: the job's plan, or the explicit chunk list.
// It returns the chunks that dead workers left unfinished (to be re-run:
// the kernel is idempotent or they never started), or the job's error.
func (t *procTeam) dispatch(ctx context.Context, j *job, list []listEntry) ([]listEntry, error) {
	h, d := t.h, &t.h.desc
	p := j.p
	if list != nil {
		p.sched, p.k = schedList, len(list)
		copy(t.c.list, list)
	}
	expect := uint32(t.parts - t.first)
	d.kind.Store(jobRun)
	d.sched.Store(uint32(p.sched))
	d.expect.Store(expect)
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
	h.next.Store(0)
	h.fin.Store(0)
	h.errOwner.Store(-1)
	h.stop.Store(stopNone)
	t.primErr = nil
	deaths := t.deaths.Load() // a worker that dies from here on is noticed

	g := h.gen.Add(1)
	if g == 0 { // 0 marks "no job" in liveGen: skip it
		g = h.gen.Add(1)
	}
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
		t.participate(ctx, j, &p, g)
	}
	t.wait(g, expect, deaths)
	if stopCB != nil {
		stopCB()
		t.cbMu.Lock()
		t.liveGen = 0
		t.cbMu.Unlock()
	}
	return t.outcome(ctx, j, &p, g)
}

// participate runs the coordinator's share of a job (Primary).
func (t *procTeam) participate(ctx context.Context, j *job, p *plan, g uint32) {
	r := &t.prim
	r.k, r.args, r.p, r.gen = j.k, j.args, p, g
	r.next, r.stop = &t.h.next, &t.h.stop
	r.guided, r.list, r.partials = nil, nil, nil
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

func (t *procTeam) primaryFail(w, lo, hi int, err error, stack string) {
	if t.h.errOwner.CompareAndSwap(-1, int32(w)) {
		t.primErr = &WorkerError{Kernel: t.prim.k.name, Worker: w, PID: t.pid, Lo: lo, Hi: hi, Err: err, Stack: stack}
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

// wait waits until every worker process has finished generation g or died.
// After the job's context ended it waits CancelGrace for running chunks,
// then kills the workers still busy.
func (t *procTeam) wait(g uint32, expect uint32, seen uint64) {
	h := t.h
	var spinEnd, graceEnd time.Time
	for i := 0; ; i++ {
		if h.fin.Load() == expect {
			return
		}
		if dz := t.deaths.Load(); dz != seen {
			seen = dz
			if t.busy(g) == 0 {
				return
			}
		}
		if s := h.stop.Load(); s == stopCanceled || s == stopDeadline {
			now := time.Now()
			if graceEnd.IsZero() {
				graceEnd = now.Add(t.cfg.CancelGrace)
			} else if now.After(graceEnd) {
				t.killBusy(g)
				graceEnd = now.Add(time.Hour) // kill once; their deaths end the wait
			}
		}
		if t.cfg.Spin > 0 {
			if i&63 != 63 {
				continue
			}
			now := time.Now()
			if spinEnd.IsZero() {
				spinEnd = now.Add(t.cfg.Spin)
			}
			if now.Before(spinEnd) {
				continue
			}
		}
		v := h.notify.Load()
		if h.fin.Load() == expect || t.deaths.Load() != seen {
			continue
		}
		h.coordSleeping.Store(1)
		err := futex.Wait((*uint32)(unsafe.Pointer(&h.notify)), v, 50*time.Millisecond)
		h.coordSleeping.Store(0)
		if err != nil && t.busy(g) == 0 {
			return // belt and braces: a death noticed only by its exit
		}
	}
}

// busy counts the live worker processes that have not finished generation g.
func (t *procTeam) busy(g uint32) int {
	n := 0
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].endGen.Load() != g {
			n++
		}
	}
	return n
}

func (t *procTeam) killBusy(g uint32) {
	for i := t.first; i < t.parts; i++ {
		if w := t.procs[i]; w != nil && !w.exited() && t.c.slots[i].endGen.Load() != g {
			_ = w.cmd.Process.Kill()
		}
	}
}

// outcome turns the end state of generation g into the job's result.
func (t *procTeam) outcome(ctx context.Context, j *job, p *plan, g uint32) ([]listEntry, error) {
	h := t.h
	stop := h.stop.Load()
	switch stop {
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
	var lost []listEntry
	for i := t.first; i < t.parts; i++ {
		w := t.procs[i]
		s := &t.c.slots[i]
		if !w.exited() || s.endGen.Load() == g {
			continue // alive, or died after its part of the job
		}
		var e listEntry
		started := true
		switch p.sched {
		case schedStatic:
			if i >= p.k || s.staticDone.Load() == g {
				continue
			}
			lo, hi := p.chunk(i, nil)
			e = listEntry{lo: int64(lo), hi: int64(hi), idx: int64(i)}
			started = s.chunk.Load() == int64(i)
		default:
			ci := s.chunk.Load()
			if ci < 0 || ci >= int64(p.k) {
				continue // it was not running a chunk
			}
			switch p.sched {
			case schedList:
				e = t.c.list[ci]
			case schedGuided:
				gs := guidedStarts(p.hi-p.lo, p.parts, p.size)
				lo, hi := p.chunk(int(ci), gs)
				e = listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
			default:
				lo, hi := p.chunk(int(ci), nil)
				e = listEntry{lo: int64(lo), hi: int64(hi), idx: ci}
			}
		}
		if started && !j.k.idempotent {
			how, sig := w.describe()
			return nil, &WorkerError{
				Kernel: j.k.name, Worker: i, PID: w.pid, Lo: int(e.lo), Hi: int(e.hi), Signal: sig, Output: w.tail.String(),
				Err: fmt.Errorf("%w: it %s while running the chunk; the kernel is not registered as Idempotent, so the chunk was not run again", ErrWorkerDied, how),
			}
		}
		lost = append(lost, e)
	}
	return lost, nil
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
		return &WorkerError{Kernel: j.k.name, Worker: owner, Err: fmt.Errorf("engine: job failed, but the failing worker index %d is out of range", owner)}
	}
	w := t.procs[owner]
	if w.exited() && t.c.slots[owner].endGen.Load() != g {
		how, sig := w.describe()
		s := &t.c.slots[owner]
		return &WorkerError{Kernel: j.k.name, Worker: owner, PID: w.pid, Lo: int(s.lo.Load()), Hi: int(s.hi.Load()), Signal: sig, Output: w.tail.String(),
			Err: fmt.Errorf("%w: it %s while reporting a failure", ErrWorkerDied, how)}
	}
	kind, lo, hi, msg, stack := t.c.readErr(owner)
	var err error
	switch kind {
	case errKindPanic:
		err = &PanicError{Value: msg}
	default:
		err = &remoteError{msg: msg}
	}
	return &WorkerError{Kernel: j.k.name, Worker: owner, PID: w.pid, Lo: lo, Hi: hi, Err: err, Stack: stack}
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

// tailWriter passes a worker's stderr through and keeps its last bytes for
// error messages.
type tailWriter struct {
	w   interface{ Write([]byte) (int, error) }
	mu  sync.Mutex
	buf []byte
}

const tailMax = 4 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	t.mu.Unlock()
	if t.w != nil {
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimRight(string(t.buf), "\n")
}
