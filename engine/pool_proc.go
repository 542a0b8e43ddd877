package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/shmpar/shmpar/engine/internal/remote"
	"github.com/shmpar/shmpar/engine/internal/spin"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmpar/shmpar/queue"
)

// procPool is the Pool of a process team: a dispatcher goroutine (loop) that
// owns every piece of state below the inbox, fed through the inbox and
// woken through the result queue, where the workers' results, their hellos,
// the deaths seen by watcher goroutines and the end of a session arrive
// too. It never blocks on a worker: it only TryPuts into task queues, whose
// room it tracks.
type procPool struct {
	p     *Pool
	team  *Team
	pt    *procTeam
	parts int
	first int
	id    uint64

	tasks    []*queue.Queue // task queue of participant first+i
	res      *queue.Queue
	st       *poolShared
	maxTask  int // a batch message above this is split
	maxMsg   int // the largest task message
	maxRes   int // a result message above this is split
	maxTasks int // MaxTasksPerWorker
	grace    time.Duration
	spin     time.Duration

	inMu     sync.Mutex
	inbox    []poolReq
	spare    []poolReq
	closed   bool
	released bool // the queues and the shared segment are gone
	poked    atomic.Bool

	// helpers counts the goroutines that may still touch the queues and
	// the shared segment besides the dispatcher (a session's For, death
	// watchers); life ends when the dispatcher has stopped, so that none
	// of them waits for it.
	helpers sync.WaitGroup
	life    context.Context
	endLife context.CancelFunc

	endMu  sync.Mutex
	endErr map[uint64]error

	loopDone chan struct{}

	// Owned by the dispatcher goroutine.
	session    uint64
	sstate     sessState
	sessCancel context.CancelFunc
	sessOver   chan struct{}
	canceledS  bool // sessCancel was called
	ws         []*pworker
	watched    []int       // pid watched per participant in this session (nil until the first hello)
	ran        map[int]int // MaxTasksPerWorker: tasks sent to each live worker process, across sessions
	pending    []*batch
	calls      map[uint64]*call
	idleSince  time.Time // the session has had nothing to do since (zero: busy)
	useful     bool
	failStreak int
	closing    bool
	closeBy    time.Time
	rbuf       []byte
	mbuf       []byte
	emptyBell  uint32 // the result bell when the queue was last found empty
	rr         int
}

type sessState uint8

const (
	sessIdle sessState = iota
	sessRunning
	sessDraining
)

type reqKind uint8

const (
	reqSubmit reqKind = iota
	reqCancel
	reqClose
)

type poolReq struct {
	kind reqKind
	c    *call
	bs   []*batch
	ack  chan struct{}
}

// pworker is the dispatcher's view of one worker process in a session.
type pworker struct {
	idx       int
	pid       int
	exit      <-chan struct{}
	live      bool
	stopped   bool // a stop message is queued
	out       gobOut
	in        gobIn
	resetRes  bool // tell the worker to start a new result stream
	seq       uint64
	flight    []*batch // sent, not fully answered, in order
	tasksSent int
	full      bool // its task queue refused a batch; wait for a result
	lastCur   uint64
	curSince  time.Time
	kill      killWhy
	killCur   uint64
}

type killWhy uint8

const (
	killNone killWhy = iota
	killTimeout
	killCancel
	killRetire
	killProtocol
)

const (
	// poolMaxTries bounds the worker deaths an idempotent task may go
	// through; then it fails with ErrWorkerDied.
	poolMaxTries = 3
	// poolShortBatch: batches that run shorter get a second one queued
	// behind them on the same worker, and those shorter than poolTinyBatch
	// three, so that the worker never waits for the dispatcher.
	poolShortBatch = time.Millisecond
	poolTinyBatch  = 50 * time.Microsecond
	// poolGobChunk bounds the automatic batch of a gob-encoded type.
	poolGobChunk = 1 << 16
)

var poolIDs atomic.Uint64

func newProcPool(p *Pool, team *Team, pt *procTeam) (q *procPool, err error) {
	nq := pt.parts - pt.first
	if nq <= 0 {
		return nil, fmt.Errorf("engine: NewPool: the team has no worker processes (Workers = 1 with Primary): the coordinator does not run pool tasks")
	}
	qs := p.cfg.queueSize
	q = &procPool{
		p: p, team: team, pt: pt, parts: pt.parts, first: pt.first, id: poolIDs.Add(1),
		maxTasks: p.cfg.maxTasks, grace: pt.cfg.CancelGrace, spin: max(pt.cfg.Spin, 0),
		endErr: map[uint64]error{}, loopDone: make(chan struct{}), calls: map[uint64]*call{}, ran: map[int]int{},
		ws: make([]*pworker, pt.parts),
	}
	q.life, q.endLife = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			q.release()
		}
	}()
	q.tasks = make([]*queue.Queue, nq)
	for i := range q.tasks {
		if q.tasks[i], err = queue.CreateAnon(qs); err != nil {
			return nil, fmt.Errorf("engine: NewPool: task queue: %w", err)
		}
	}
	if q.res, err = queue.CreateAnon(qs * nq); err != nil {
		return nil, fmt.Errorf("engine: NewPool: result queue: %w", err)
	}
	if q.st, err = newPoolShared(pt.parts); err != nil {
		return nil, fmt.Errorf("engine: NewPool: %w", err)
	}
	q.maxTask = qs / 4
	q.maxMsg = q.tasks[0].MaxMessage()
	q.maxRes = qs / 2
	go q.loop()
	return q, nil
}

// release closes the queues and the shared segment.
func (q *procPool) release() {
	for _, t := range q.tasks {
		if t != nil {
			t.Close()
		}
	}
	if q.res != nil {
		q.res.Close()
	}
	if q.st != nil {
		q.st.seg.Close()
	}
}

func (q *procPool) maxChunk(f *poolFunc) int {
	if f.inFlat {
		if s := int(f.in.Size()); s > 0 {
			return max(1, min(q.maxTask/s, maxBatchTasks))
		}
		return maxBatchTasks
	}
	return poolGobChunk
}

// ---- the callers' side ----

func (q *procPool) post(r poolReq) error {
	q.inMu.Lock()
	if q.closed && r.kind == reqSubmit {
		q.inMu.Unlock()
		return fmt.Errorf("engine: %w", ErrPoolClosed)
	}
	if r.kind == reqClose {
		q.closed = true
	}
	q.inbox = append(q.inbox, r)
	if !q.released && !q.poked.Swap(true) {
		q.putResult(ctlMsg(rmPoke, 0, 0, 0), false) // full: the dispatcher is awake anyway
	}
	q.inMu.Unlock()
	return nil
}

func (q *procPool) submit(c *call, bs []*batch) error {
	return q.post(poolReq{kind: reqSubmit, c: c, bs: bs})
}

func (q *procPool) cancel(c *call) {
	ack := make(chan struct{})
	if err := q.post(poolReq{kind: reqCancel, c: c, ack: ack}); err != nil {
		return
	}
	select {
	case <-ack:
	case <-q.loopDone:
	}
}

func (q *procPool) close() error {
	_ = q.post(poolReq{kind: reqClose})
	<-q.loopDone
	q.endLife()
	q.helpers.Wait()
	q.inMu.Lock()
	q.released = true
	q.inMu.Unlock()
	q.release()
	return nil
}

// ---- the dispatcher ----

func (q *procPool) loop() {
	defer close(q.loopDone)
	for {
		q.takeInbox()
		deadline := q.step()
		if q.closing && q.sstate == sessIdle {
			q.failAll(fmt.Errorf("engine: %w", ErrPoolClosed))
			return
		}
		msg, err := q.next(deadline)
		if err != nil {
			// The result queue is unusable: nothing more can be done.
			q.failAll(fmt.Errorf("engine: pool result queue: %w", err))
			if q.sessCancel != nil {
				q.sessCancel()
			}
			return
		}
		// Take what else is there before looking at the state again.
		for k := 0; msg != nil && k < 16; k++ {
			q.rbuf = msg[:0]
			q.handle(msg)
			msg = nil
			if bell := q.st.resBell.Load(); bell != q.emptyBell {
				if msg, err = q.res.GetAppend(doneCtx, q.rbuf[:0]); err != nil {
					q.emptyBell, msg = bell, nil
				}
			}
		}
	}
}

// doneCtx is an ended context: Get with it takes a message if there is one
// and never waits.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// next returns the next message of the result queue, or nil at deadline.
// It polls the result bell first, yielding the CPU between polls
// (sched_yield, and Gosched so that a caller whose call just finished gets
// this P): on a busy machine the worker being waited for then runs at once,
// where the queue's own wait would keep the CPU for a time slice.
func (q *procPool) next(deadline time.Time) ([]byte, error) {
	for {
		bell := q.st.resBell.Load()
		msg, err := q.res.GetAppend(doneCtx, q.rbuf[:0])
		if err == nil || !errors.Is(err, queue.ErrEmpty) {
			return msg, err
		}
		if q.spin <= 0 {
			break
		}
		d := q.spin
		if !deadline.IsZero() {
			if d = min(d, time.Until(deadline)); d <= 0 {
				return nil, nil
			}
		}
		rang := spin.Until(d, spin.WorkerPolls, func() bool {
			if q.st.resBell.Load() != bell {
				return true
			}
			runtime.Gosched()
			return false
		})
		if !rang {
			break
		}
	}
	if deadline.IsZero() {
		return q.res.GetAppend(context.Background(), q.rbuf[:0])
	}
	d := time.Until(deadline)
	if d <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	msg, err := q.res.GetAppend(ctx, q.rbuf[:0])
	cancel()
	if err != nil && errors.Is(err, queue.ErrEmpty) {
		return nil, nil
	}
	return msg, err
}

// putTask queues a message for worker i and rings its bell.
func (q *procPool) putTask(i int, m []byte) error {
	if err := q.tasks[i-q.first].TryPut(m); err != nil {
		return err
	}
	q.st.slots[i].taskBell.Add(1)
	return nil
}

// putResult puts one of the coordinator's own messages on the result queue
// and rings the bell; block waits for room.
func (q *procPool) putResult(m []byte, block bool) {
	var err error
	if block {
		err = q.res.Put(q.life, m)
	} else {
		err = q.res.TryPut(m)
	}
	if err == nil {
		q.st.resBell.Add(1)
	}
}

func (q *procPool) takeInbox() {
	q.poked.Store(false)
	q.inMu.Lock()
	reqs := q.inbox
	q.inbox, q.spare = q.spare[:0], nil
	q.inMu.Unlock()
	for i := range reqs {
		r := &reqs[i]
		switch r.kind {
		case reqSubmit:
			if q.closing || r.c.isFinished() {
				r.c.finish(fmt.Errorf("engine: %w", ErrPoolClosed))
				continue
			}
			q.calls[r.c.id] = r.c
			q.pending = append(q.pending, r.bs...)
		case reqCancel:
			q.kill(r.c, time.Now())
			close(r.ack)
		case reqClose:
			if !q.closing {
				q.closing = true
				q.closeBy = time.Now().Add(DefaultCloseTimeout)
				q.failAll(fmt.Errorf("engine: %w", ErrPoolClosed))
			}
		}
		*r = poolReq{}
	}
	q.spare = reqs[:0]
}

// kill marks c dead: its pending batches are dropped, the workers skip its
// queued ones and see their running tasks' contexts done, and its results
// are thrown away.
func (q *procPool) kill(c *call, now time.Time) {
	if c.dead {
		return
	}
	c.dead, c.cancelAt = true, now
	c.canceled.Store(true)
	q.st.setCanceled(c.id)
	delete(q.calls, c.id)
	kept := q.pending[:0]
	for _, b := range q.pending {
		if b.c != c {
			kept = append(kept, b)
		}
	}
	clear(q.pending[len(kept):])
	q.pending = kept
}

// failAll ends every live call with err.
func (q *procPool) failAll(err error) {
	now := time.Now()
	for _, c := range q.calls {
		q.kill(c, now)
		c.finish(err)
	}
}

// step starts and ends sessions, sends batches, retires workers, and
// watches running tasks. It returns when the dispatcher must look again at
// the latest (zero: only when a message comes).
func (q *procPool) step() time.Time {
	var now time.Time
	clock := func() time.Time {
		if now.IsZero() {
			now = time.Now()
		}
		return now
	}
	if q.sstate == sessIdle && len(q.pending) > 0 && !q.closing {
		q.startSession()
	}
	if q.sstate == sessRunning {
		q.dispatch()
		if q.closing {
			q.drain()
		}
	}
	if q.sstate == sessDraining {
		for _, w := range q.ws {
			if w != nil && w.live && !w.stopped {
				q.sendStop(w)
			}
		}
		if q.closing && !q.canceledS && clock().After(q.closeBy) {
			q.canceledS = true
			q.sessCancel()
		}
	}
	var deadline time.Time
	later := func(t time.Time) {
		if deadline.IsZero() || t.Before(deadline) {
			deadline = t
		}
	}
	if q.closing && q.sstate != sessIdle && !q.canceledS {
		later(q.closeBy)
	}
	if q.sstate == sessIdle {
		return deadline
	}
	busy := len(q.pending) > 0
	for _, w := range q.ws {
		if w == nil || !w.live {
			continue
		}
		if len(w.flight) > 0 {
			busy = true
			if watched(w) {
				if tick := q.watch(w, clock()); tick > 0 {
					later(now.Add(tick))
				}
			}
		} else if q.maxTasks > 0 && w.tasksSent >= q.maxTasks && w.kill == killNone {
			w.kill = killRetire
			q.pt.killProc(w.idx, w.pid)
		}
	}
	if q.sstate == sessRunning {
		switch {
		case busy:
			q.idleSince = time.Time{}
		case q.idleSince.IsZero():
			q.idleSince = clock()
			later(q.idleSince.Add(PoolLinger))
		case clock().Sub(q.idleSince) >= PoolLinger:
			q.drain()
		default:
			later(q.idleSince.Add(PoolLinger))
		}
	}
	return deadline
}

// watched reports whether w runs a batch of a call with a timeout or of a
// canceled call: then the watchdog looks at it.
func watched(w *pworker) bool {
	for _, b := range w.flight {
		if b.c.timeout > 0 || b.c.dead {
			return true
		}
	}
	return false
}

// watch checks the task worker w runs against its timeout and, for a
// canceled call, the team's CancelGrace; it kills the worker when one is
// over, and returns how soon to look again (0: no need).
func (q *procPool) watch(w *pworker, now time.Time) time.Duration {
	cur := q.st.slots[w.idx].cur.Load()
	if cur != w.lastCur || w.curSince.IsZero() {
		w.lastCur, w.curSince = cur, now
	}
	cs, cj := unpackCur(cur)
	var fb *batch
	for _, f := range w.flight {
		if f.seq == cs {
			fb = f
			break
		}
	}
	// Look again soon while a timed or canceled call is in flight.
	var tick time.Duration
	for _, f := range w.flight {
		c := f.c
		if c.timeout > 0 {
			t := min(max(c.timeout/10, time.Millisecond), 50*time.Millisecond)
			if tick == 0 || t < tick {
				tick = t
			}
		}
		if c.dead {
			t := min(max(q.grace/10, time.Millisecond), 50*time.Millisecond)
			if tick == 0 || t < tick {
				tick = t
			}
		}
	}
	if fb == nil || cj >= fb.n() || w.kill != killNone {
		return tick
	}
	c := fb.c
	ran := now.Sub(w.curSince)
	switch {
	case c.dead && !c.cancelAt.IsZero() && now.Sub(c.cancelAt) > q.grace && ran > q.grace:
		w.kill, w.killCur = killCancel, cur
		q.pt.killProc(w.idx, w.pid)
	case !c.dead && c.timeout > 0 && ran > overtime(c.timeout):
		w.kill, w.killCur = killTimeout, cur
		q.pt.killProc(w.idx, w.pid)
	}
	return tick
}

func (q *procPool) startSession() {
	q.session++
	q.sstate = sessRunning
	q.sessOver = make(chan struct{})
	q.canceledS = false
	q.useful = false
	q.idleSince = time.Time{}
	clear(q.ws)
	q.watched = nil
	ctx, cancel := context.WithCancel(context.Background())
	q.sessCancel = cancel
	args := poolArgs{
		Pool: q.id, Session: q.session, Coord: q.pt.pid, First: q.first,
		Tasks: q.tasks, Results: q.res, State: q.st, MaxRes: q.maxRes, Spin: q.spin,
	}
	s := q.session
	q.helpers.Add(1)
	go func() {
		defer q.helpers.Done()
		err := poolServer.For(ctx, q.team, q.parts, args, Static())
		cancel()
		q.endMu.Lock()
		q.endErr[s] = err
		q.endMu.Unlock()
		q.putResult(ctlMsg(rmEnd, 0, s, 0), true)
	}()
}

// drain ends the session: every worker gets a stop message behind its
// queued batches.
func (q *procPool) drain() {
	if q.sstate != sessRunning {
		return
	}
	q.sstate = sessDraining
	for _, w := range q.ws {
		if w != nil && w.live {
			q.sendStop(w)
		}
	}
}

func (q *procPool) sendStop(w *pworker) {
	b := make([]byte, poolHdr)
	h := taskHdr{kind: tmStop, session: q.session}
	h.put(b)
	if q.putTask(w.idx, b) == nil {
		w.stopped = true
	}
}

func (q *procPool) endSession() {
	q.endMu.Lock()
	err := q.endErr[q.session]
	delete(q.endErr, q.session)
	q.endMu.Unlock()
	close(q.sessOver)
	for _, w := range q.ws {
		if w == nil || !w.live {
			continue
		}
		select {
		case <-w.exit:
			q.death(w)
		default:
			if len(w.flight) > 0 {
				// The job stopped under the worker (the pool is
				// closing, or another participant failed).
				w.live = false
				q.drainQueue(w.idx)
				q.lose(w, true)
			}
		}
	}
	clear(q.ws)
	q.sstate = sessIdle
	q.sessCancel = nil
	if err == nil {
		q.failStreak = 0
		return
	}
	switch {
	case q.useful:
		q.failStreak = 0
	case errors.Is(err, ErrWorkerDied):
		// Deaths are accounted for task by task.
	default:
		q.failStreak++
	}
	if q.failStreak >= 3 || errors.Is(err, ErrClosed) {
		q.failStreak = 0
		q.failAll(fmt.Errorf("engine: pool: the workers could not run: %w", err))
	}
}

// dispatch sends pending batches to workers with room.
func (q *procPool) dispatch() {
	for len(q.pending) > 0 {
		b := q.pending[0]
		if b.c.dead {
			q.popFront()
			continue
		}
		w := q.pick(b)
		if w == nil {
			return
		}
		q.send(w, b)
	}
}

// pick chooses the worker with the fewest batches in flight among those
// with room for b.
func (q *procPool) pick(b *batch) *pworker {
	depth := 1
	switch ns := b.c.batchNs; {
	case ns <= 0:
	case ns < float64(poolTinyBatch):
		depth = 4
	case ns < float64(poolShortBatch):
		depth = 2
	}
	var best *pworker
	n := len(q.ws)
	for k := range n {
		w := q.ws[(q.rr+k)%n]
		if w == nil || !w.live || w.stopped || w.full || w.kill != killNone || len(w.flight) >= depth {
			continue
		}
		if q.maxTasks > 0 && w.tasksSent >= q.maxTasks {
			continue
		}
		if best == nil || len(w.flight) < len(best.flight) {
			best = w
		}
	}
	if best != nil {
		q.rr = best.idx + 1
	}
	return best
}

func (q *procPool) popFront() {
	q.pending[0] = nil
	q.pending = q.pending[1:]
	if len(q.pending) == 0 {
		q.pending = nil
	}
}

// pushFront puts batches back at the head of the pending list, in order.
func (q *procPool) pushFront(bs ...*batch) {
	if len(bs) == 0 {
		return
	}
	q.pending = append(bs[:len(bs):len(bs)], q.pending...)
}

// splitFront replaces the head batch by its first k tasks and the rest.
func (q *procPool) splitFront(k int) {
	b := q.pending[0]
	q.popFront()
	q.pushFront(b.sub(0, k), b.sub(k, b.n()))
}

// send encodes the head batch b for worker w and queues it there.
func (q *procPool) send(w *pworker, b *batch) {
	c := b.c
	n := b.n()
	if q.maxTasks > 0 && n > q.maxTasks-w.tasksSent {
		q.splitFront(q.maxTasks - w.tasksSent)
		return
	}
	if c.bpt > 0 && n > 1 && c.bpt*n > q.maxTask {
		q.splitFront(max(1, q.maxTask/c.bpt))
		return
	}
	name := c.f.name
	m := append(q.mbuf[:0], make([]byte, poolHdr+pad8(len(name)))...)
	copy(m[poolHdr:], name)
	si, sj := b.span()
	m, fresh, err := c.f.ops.encodeIn(&w.out, m, b.st.ins, si, sj)
	q.mbuf = m[:0]
	if err != nil {
		q.popFront()
		q.failTasks(b, 0, n, -1, 0, func(int) error {
			return fmt.Errorf("%w: %s: %v; inputs cross to worker processes with encoding/gob", ErrArgsEncode, c.f.in, err)
		})
		return
	}
	size := len(m) - poolHdr - pad8(len(name))
	if size > q.maxTask && n > 1 {
		w.out.reset()
		c.bpt = max(c.bpt, size/n+1)
		q.splitFront(n / 2)
		return
	}
	if len(m) > q.maxMsg {
		w.out.reset()
		q.popFront()
		q.failTasks(b, 0, n, -1, 0, func(int) error {
			return fmt.Errorf("%w: the input is %d bytes encoded, the pool's task queue takes at most %d (QueueSize); pass bulk data in a shared array", ErrArgsTooLarge, size, q.maxMsg-poolHdr)
		})
		return
	}
	h := taskHdr{kind: tmBatch, nameLen: uint16(len(name)), n: uint32(n), session: q.session, seq: w.seq + 1, call: c.id, timeout: int64(c.timeout)}
	if fresh {
		h.flags |= tfStreamStart
	}
	if w.resetRes {
		h.flags |= tfResetResults
	}
	h.put(m)
	if err := q.putTask(w.idx, m); err != nil {
		w.out.reset()
		w.full = true
		return
	}
	q.popFront()
	w.seq++
	w.resetRes = false
	b.seq, b.got = w.seq, 0
	w.flight = append(w.flight, b)
	w.tasksSent += n
	if q.maxTasks > 0 {
		q.ran[w.pid] = w.tasksSent
	}
	if n > 0 {
		c.bpt = max(c.bpt, size/n)
	}
}

// failTasks fails tasks [i, j) of b with the error errf gives for each
// index (relative to b).
func (q *procPool) failTasks(b *batch, i, j int, worker, pid int, errf func(int) error) {
	if b.c.dead {
		return
	}
	errs := make([]*TaskError, 0, j-i)
	for k := i; k < j; k++ {
		errs = append(errs, &TaskError{Func: b.c.f.name, Index: b.lo + k, Worker: worker, PID: pid, Err: errf(k)})
	}
	q.deliver(b, i, j, errs, 0)
}

// deliver passes results to the call and forgets a call once finished.
func (q *procPool) deliver(b *batch, i, j int, errs []*TaskError, perTask float64) {
	c := b.c
	c.deliver(b, i, j, errs, perTask)
	if c.isFinished() {
		delete(q.calls, c.id)
	}
}

// handle acts on one message of the result queue.
func (q *procPool) handle(msg []byte) {
	var h resHdr
	if h.get(msg) != nil {
		return
	}
	switch h.kind {
	case rmPoke:
	case rmEnd:
		if h.session == q.session && q.sstate != sessIdle {
			q.endSession()
		}
	case rmHello:
		q.hello(&h)
	case rmDeath:
		if h.session != q.session || int(h.worker) >= len(q.ws) {
			return
		}
		if w := q.ws[h.worker]; w != nil && w.live && w.pid == int(h.seq) {
			q.death(w)
		} else if w == nil && q.watched != nil && q.watched[h.worker] == int(h.seq) {
			q.drain() // died before its hello: start again on a full team
		}
	case rmResult:
		q.result(&h, msg)
	}
}

func (q *procPool) hello(h *resHdr) {
	i := int(h.worker)
	if h.session != q.session || q.sstate == sessIdle || i < q.first || i >= q.parts || q.ws[i] != nil {
		return
	}
	pid := int(h.seq)
	if q.watched == nil {
		q.watchAll()
	}
	w := &pworker{idx: i, pid: pid, live: true, tasksSent: q.ran[pid]}
	q.ws[i] = w
	w.exit = q.pt.exitChan(i, pid)
	if w.exit == nil {
		// Not the team's worker in that slot any more: it is gone.
		w.live = false
		q.drain()
		return
	}
	if q.watched[i] != pid {
		q.watched[i] = pid
		q.helpers.Add(1)
		go q.watchExit(i, pid, q.session, w.exit, q.sessOver)
	}
	if q.sstate == sessDraining {
		q.sendStop(w)
	}
}

// watchAll starts watching every worker process of the team when the
// first worker of a session says hello (the team has replaced its dead
// workers by then): one that dies before its own hello would otherwise
// go unnoticed until the session ends, and the session would go on short
// of a worker.
func (q *procPool) watchAll() {
	q.watched = make([]int, q.parts)
	for i, pid := range q.pt.pids() {
		if i < q.first {
			continue
		}
		exit := q.pt.exitChan(i, pid)
		if pid == 0 || exit == nil {
			q.drain() // already gone: start again on a full team
			continue
		}
		q.watched[i] = pid
		q.helpers.Add(1)
		go q.watchExit(i, pid, q.session, exit, q.sessOver)
	}
}

// watchExit reports a worker's death through the result queue, behind
// every result it sent.
func (q *procPool) watchExit(i, pid int, session uint64, exit, over <-chan struct{}) {
	defer q.helpers.Done()
	select {
	case <-exit:
		q.putResult(ctlMsg(rmDeath, i, session, uint64(pid)), true)
	case <-over:
	}
}

// result takes one result message: it decodes the values into the call's
// output and delivers the tasks.
func (q *procPool) result(h *resHdr, msg []byte) {
	i := int(h.worker)
	if h.session != q.session || i >= len(q.ws) {
		return
	}
	w := q.ws[i]
	if w == nil || !w.live {
		return
	}
	w.full = false
	if h.flags&rfWantReset != 0 {
		w.out.reset()
	}
	if len(w.flight) == 0 || w.flight[0].seq != h.seq || int(h.off) != w.flight[0].got || int(h.off)+int(h.n) > w.flight[0].n() {
		q.protocol(w, fmt.Sprintf("result for batch %d at %d (+%d) out of order", h.seq, h.off, h.n))
		return
	}
	b := w.flight[0]
	fb := b
	c := b.c
	errB, payload := h.body(msg)
	wes, perr := parseWireErrs(errB, int(h.nerr))
	if perr != nil {
		q.protocol(w, perr.Error())
		return
	}
	q.useful, q.failStreak = true, 0
	n := int(h.n)
	perTask := 0.0
	if h.run > 0 {
		if c.batchNs == 0 {
			c.batchNs = float64(h.run)
		} else {
			c.batchNs = 0.7*c.batchNs + 0.3*float64(h.run)
		}
		perTask = float64(h.run) / float64(b.n())
	}
	switch {
	case h.flags&rfNotRun != 0:
		w.flight = w.flight[1:]
		q.pushFront(b.sub(fb.got, b.n()))
		return
	case h.flags&rfDecodeFail != 0:
		w.flight = w.flight[1:]
		rest := b.sub(fb.got, b.n())
		if rest.n() > 1 {
			// Find the inputs that fail: send them one by one.
			parts := make([]*batch, rest.n())
			for k := range parts {
				parts[k] = rest.sub(k, k+1)
			}
			q.pushFront(parts...)
			return
		}
		text := "decode failed"
		if len(wes) > 0 {
			text = wes[0].msg
		}
		q.failTasks(b, fb.got, b.n(), w.idx, w.pid, func(int) error { return &remote.Error{Msg: text, Sentinel: ErrArgsEncode} })
		return
	}
	fresh := h.flags&rfStreamStart != 0
	var derr error
	if c.dead {
		if !c.f.outFlat {
			_ = c.f.ops.decodeOut(&w.in, payload, fresh, c.f.ops.newOut(n), 0, n)
		}
	} else {
		si, _ := b.span()
		derr = c.f.ops.decodeOut(&w.in, payload, fresh, b.st.outs, si+fb.got, si+fb.got+n)
		if derr != nil {
			w.resetRes = true
		}
	}
	lo := fb.got
	fb.got += n
	if fb.got >= b.n() {
		w.flight[0] = nil
		w.flight = w.flight[1:]
		if len(w.flight) == 0 {
			w.flight = nil
		}
	}
	if c.dead {
		return
	}
	var errs []*TaskError
	if derr != nil {
		errs = make([]*TaskError, 0, n)
		for k := range n {
			errs = append(errs, &TaskError{Func: c.f.name, Index: b.lo + lo + k, Worker: w.idx, PID: w.pid,
				Err: fmt.Errorf("decode results (%s) from the worker: %w", c.f.out, derr)})
		}
	} else if len(wes) > 0 {
		errs = make([]*TaskError, 0, len(wes))
		for _, e := range wes {
			if int(e.idx) < lo || int(e.idx) >= lo+n {
				continue
			}
			errs = append(errs, q.taskError(b, w, e))
		}
	}
	q.deliver(b, lo, lo+n, errs, perTask)
}

// taskError recreates a worker's report of a failed task.
func (q *procPool) taskError(b *batch, w *pworker, e wireErr) *TaskError {
	te := &TaskError{Func: b.c.f.name, Index: b.lo + int(e.idx), Worker: w.idx, PID: w.pid, Stack: e.stack}
	switch e.kind {
	case errKindPanic:
		te.Err = &PanicError{Value: e.msg}
	case ekEncode:
		te.Err = &remote.Error{Msg: e.msg, Sentinel: ErrArgsEncode}
	case ekTooLarge:
		te.Err = &remote.Error{Msg: e.msg, Sentinel: ErrArgsTooLarge}
	default:
		te.Err = remote.New(e.msg, uint32(e.sentinel))
	}
	te.Err = timeoutCause(b.c, te.Err)
	return te
}

// overtime is how long past its start a task with timeout d is stopped: a
// little after d, so that a task that watches its context (whose deadline
// is d) returns by itself first.
func overtime(d time.Duration) time.Duration { return d + d/20 + time.Millisecond }

// timeoutCause marks a task error that is its context's deadline (the call's
// Timeout) as ErrTaskTimeout too.
func timeoutCause(c *call, err error) error {
	if c.timeout > 0 && errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrTaskTimeout) {
		return fmt.Errorf("%w (%v): %w", ErrTaskTimeout, c.timeout, err)
	}
	return err
}

// protocol handles a message that breaks the protocol: the worker is killed
// and its tasks are accounted for as after a death.
func (q *procPool) protocol(w *pworker, what string) {
	if w.kill == killNone {
		w.kill = killProtocol
		q.pt.killProc(w.idx, w.pid)
	}
	_ = what
}

// drainQueue empties a gone worker's task queue: what is left there was
// never taken.
func (q *procPool) drainQueue(i int) {
	t := q.tasks[i-q.first]
	for range 1 << 20 {
		if _, err := t.TryGet(); err != nil {
			return
		}
	}
}

// death handles the death of worker w: every result it sent has been
// handled (the death message comes behind them).
func (q *procPool) death(w *pworker) {
	w.live = false
	delete(q.ran, w.pid)
	q.drainQueue(w.idx)
	q.lose(w, false)
	q.drain()
}

// lose accounts for the batches worker w held when it died (alive: when it
// left the session with batches in flight). Its progress word says which
// task it was running: the tasks before it ran but their results are lost,
// the one it ran may be what killed it, and those after never started.
func (q *procPool) lose(w *pworker, alive bool) {
	cur := q.st.slots[w.idx].cur.Load()
	cs, cj := unpackCur(cur)
	how, sig, out := "left the pool session", syscall.Signal(0), ""
	if !alive {
		how, sig, out = q.pt.exitInfo(w.idx, w.pid)
	}
	var front []*batch
	for _, b := range w.flight {
		fb := b
		if b.c.dead {
			continue
		}
		n := b.n()
		if cur == 0 || fb.seq > cs {
			front = append(front, b.sub(fb.got, n)) // never started
			continue
		}
		ran, running := n, -1
		if fb.seq == cs && cj < n {
			ran, running = cj, cj
		}
		lo := fb.got
		if ran > lo {
			front = q.lost(front, b, lo, ran, w, sig, out, func(int) error {
				return fmt.Errorf("%w: the task ran, but its worker process (pid %d) %s before sending its result", ErrWorkerDied, w.pid, how)
			})
		}
		rest := max(ran, lo)
		if running >= lo && running >= 0 {
			rest = running + 1
			if w.kill == killTimeout && w.killCur == packCur(fb.seq, running) {
				q.failTasks(b, running, running+1, w.idx, w.pid, func(int) error {
					return fmt.Errorf("%w: it ran longer than %v; its worker process (pid %d) was killed", ErrTaskTimeout, b.c.timeout, w.pid)
				})
			} else {
				front = q.lost(front, b, running, running+1, w, sig, out, func(int) error {
					return fmt.Errorf("%w: its worker process (pid %d) %s while running it", ErrWorkerDied, w.pid, how)
				})
			}
		}
		if rest < n {
			front = append(front, b.sub(rest, n))
		}
	}
	w.flight = nil
	q.pushFront(front...)
}

// lost handles tasks [i, j) of b that a dead worker held: run again if the
// function is idempotent and the tasks have not been through too many
// deaths, failed otherwise.
func (q *procPool) lost(front []*batch, b *batch, i, j int, w *pworker, sig syscall.Signal, out string, errf func(int) error) []*batch {
	if b.c.f.idempotent && b.tries+1 < poolMaxTries {
		s := b.sub(i, j)
		s.tries++
		return append(front, s)
	}
	note := ""
	if b.c.f.idempotent {
		note = fmt.Sprintf(" (worker processes died %d times running it)", b.tries+1)
	}
	if b.c.dead {
		return front
	}
	errs := make([]*TaskError, 0, j-i)
	for k := i; k < j; k++ {
		err := errf(k)
		if note != "" {
			err = fmt.Errorf("%w%s", err, note)
		}
		errs = append(errs, &TaskError{Func: b.c.f.name, Index: b.lo + k, Worker: w.idx, PID: w.pid, Err: err, Signal: sig, Output: out})
	}
	q.deliver(b, i, j, errs, 0)
	return front
}
