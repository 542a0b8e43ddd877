package pool

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/supervise"
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
	team  *engine.Team
	sup   supervise.Team // the team's worker processes: exits, kills
	parts int
	first int
	id    uint64

	tasks    []*queue.Queue // task queue of participant first+i
	res      *queue.Queue
	st       *poolShared
	maxTask  int // a batch message above this is split
	maxMsg   int // the largest task message
	maxTasks int // MaxTasksPerWorker
	grace    time.Duration
	spin     time.Duration

	inMu     sync.Mutex
	inbox    []poolReq
	spare    []poolReq
	closed   bool
	released bool  // the queues and the shared segment are gone
	fatal    error // the dispatcher stopped on this error: every call fails with it
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

	// Direct calls (see direct.go), and whether a session runs: then they
	// do not.
	dir      directState
	sessLive atomic.Bool
	stall    *stallWatch // nil: no watch

	// broken is the failure of the pool's initializer in a worker process
	// that replaced one: every call fails with it.
	broken atomic.Pointer[InitError]

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
	idleSince  time.Time    // the session has had nothing to do since (zero: busy)
	sessAt     time.Time    // the session started
	drainAt    time.Time    // the session started draining
	absentKill map[int]bool // pids killed this session for holding up timed tasks (see absent)
	useful     bool
	failStreak int
	closing    bool
	closeBy    time.Time
	rbuf       []byte
	mbuf       []byte
	emptyBell  uint32 // the result bell when the queue was last found empty
	rr         int
	yielders   []chan bool // reqYield: told when the session ends
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
	reqYield // end an idle session for a direct call
)

type poolReq struct {
	kind reqKind
	c    *call
	bs   []*batch
	ack  chan struct{}
	yes  chan bool // reqYield: the session is over (true), or busy (false)
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
	curSince  time.Time // when lastCur was first seen
	progress  time.Time // when it last started a task, sent a result, or got work while idle
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
	// through; then it fails with engine.ErrWorkerDied.
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

func newProcPool(p *Pool, team *engine.Team, sup supervise.Team, spec *initSpec) (q *procPool, err error) {
	parts, first := team.Workers(), sup.First()
	nq := parts - first
	if nq <= 0 {
		return nil, fmt.Errorf("pool: On: the team has no worker processes (Workers = 1 with Primary): the coordinator does not run pool tasks")
	}
	qs := p.cfg.queueSize
	q = &procPool{
		p: p, team: team, sup: sup, parts: parts, first: first, id: poolIDs.Add(1),
		maxTasks: p.cfg.maxTasks, grace: sup.CancelGrace(), spin: sup.Spin(),
		endErr: map[uint64]error{}, loopDone: make(chan struct{}), calls: map[uint64]*call{}, ran: map[int]int{},
		ws: make([]*pworker, parts),
	}
	q.life, q.endLife = context.WithCancel(context.Background())
	q.dir.stop, q.dir.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			q.release()
		}
	}()
	q.tasks = make([]*queue.Queue, nq)
	for i := range q.tasks {
		if q.tasks[i], err = queue.CreateAnon(qs); err != nil {
			return nil, fmt.Errorf("pool: On: task queue: %w", err)
		}
	}
	if q.res, err = queue.CreateAnon(qs * nq); err != nil {
		return nil, fmt.Errorf("pool: On: result queue: %w", err)
	}
	if q.st, err = newPoolShared(parts, max(stageSizeFor(qs), minStage), q.id, os.Getpid(), spec); err != nil {
		return nil, fmt.Errorf("pool: On: %w", err)
	}
	q.maxTask = qs / 4
	q.maxMsg = q.tasks[0].MaxMessage()
	if limit := stallLimitOf(p.cfg.stall, sup); limit > 0 {
		q.stall = newStallWatch(q, limit)
		q.helpers.Add(1)
		go q.stall.run()
	}
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
	if q.dir.area != nil {
		q.dir.area.seg.Close()
	}
	if q.dir.cancel != nil {
		q.dir.cancel()
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
		return fmt.Errorf("pool: %w", ErrClosed)
	}
	if q.fatal != nil && r.kind == reqSubmit {
		q.inMu.Unlock()
		return q.fatal
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
	// A direct call running now ends (its For is canceled) before the
	// area goes.
	q.dir.cancel()
	q.dir.mu.Lock()
	q.dir.closed = true
	q.dir.mu.Unlock()
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
			q.failAll(fmt.Errorf("pool: %w", ErrClosed))
			q.tellYielders(false)
			return
		}
		msg, err := q.next(deadline)
		if err != nil {
			// The result queue is unusable: nothing more can be done.
			q.stop(fmt.Errorf("pool: result queue: %w", err))
			return
		}
		// Take what else is there (up to 16 messages) before looking at
		// the state again. A message taken is always handled: a lost one
		// (a result, a death, the end of a session) would hang a call.
		for k := 0; msg != nil; k++ {
			q.rbuf = msg[:0]
			q.handle(msg)
			msg = nil
			if k == 15 {
				break
			}
			if bell := q.st.resBell.Load(); bell != q.emptyBell {
				if msg, err = q.res.GetAppend(doneCtx, q.rbuf[:0]); err != nil {
					q.emptyBell, msg = bell, nil
				}
			}
		}
	}
}

// stop ends the dispatcher on a fatal error: every live call, every
// request still in the inbox and every later call fails with err, rather
// than wait for a dispatcher that is gone.
func (q *procPool) stop(err error) {
	q.inMu.Lock()
	q.fatal = err
	reqs := q.inbox
	q.inbox = nil
	q.inMu.Unlock()
	for _, r := range reqs {
		switch r.kind {
		case reqSubmit:
			r.c.finish(err)
		case reqCancel:
			close(r.ack)
		case reqYield:
			r.yes <- false
		}
	}
	q.failAll(err)
	q.tellYielders(false)
	if q.sessCancel != nil {
		q.sessCancel()
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
				r.c.finish(fmt.Errorf("pool: %w", ErrClosed))
				continue
			}
			if e := q.broken.Load(); e != nil {
				r.c.finish(fmt.Errorf("pool: %w", e))
				continue
			}
			q.calls[r.c.id] = r.c
			q.pending = append(q.pending, r.bs...)
		case reqCancel:
			q.kill(r.c, time.Now())
			close(r.ack)
		case reqYield:
			switch {
			case q.sstate == sessIdle && len(q.pending) == 0:
				r.yes <- true
			case q.sstate != sessIdle && !q.closing && len(q.pending) == 0 && len(q.calls) == 0:
				q.drain()
				q.yielders = append(q.yielders, r.yes)
			default:
				r.yes <- false
			}
		case reqClose:
			if !q.closing {
				q.closing = true
				q.closeBy = time.Now().Add(engine.DefaultCloseTimeout)
				q.failAll(fmt.Errorf("pool: %w", ErrClosed))
			}
		}
		*r = poolReq{}
	}
	q.spare = reqs[:0]
}

// yield asks the dispatcher to end its session if it has nothing to do, so
// that a direct call need not wait for it to linger out; it reports whether
// the session is over.
func (q *procPool) yield() bool {
	yes := make(chan bool, 1)
	if err := q.post(poolReq{kind: reqYield, yes: yes}); err != nil {
		return false
	}
	select {
	case ok := <-yes:
		return ok
	case <-q.loopDone:
		return false
	}
}

func (q *procPool) tellYielders(ok bool) {
	for _, y := range q.yielders {
		y <- ok
	}
	q.yielders = nil
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
	if t := q.absent(clock()); !t.IsZero() {
		later(t)
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
			q.sup.Kill(w.idx, w.pid)
		}
	}
	if q.sstate == sessRunning {
		switch {
		case busy:
			q.idleSince = time.Time{}
		case q.idleSince.IsZero():
			q.idleSince = clock()
			later(q.idleSince.Add(Linger))
		case clock().Sub(q.idleSince) >= Linger:
			q.drain()
		default:
			later(q.idleSince.Add(Linger))
		}
	}
	return deadline
}
