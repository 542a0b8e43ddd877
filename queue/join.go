package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/shm"
)

// ErrTaskDone is returned by TaskDone when it is called more times than
// messages were put (Python's JoinableQueue.task_done raises ValueError).
var ErrTaskDone = errors.New("task done more times than messages put")

// JoinableQueue is a Queue whose consumers mark each message done, and
// whose Join waits until every message put was marked done: Python's
// multiprocessing.JoinableQueue. It has every method of Queue; any process
// may open the same queue with OpenJoinable (or Open, for a plain Queue
// handle of it, whose Gets still count), or receive it by gob.
//
// The count of unfinished tasks is not a word of its own: it is the
// queue's count of messages put (kept exact through crashes, see the
// package documentation) minus a count of TaskDone calls, both in the
// segment, so a Put costs nothing more than on a Queue. A Get counts the
// message in its process's peer slot as a task that process holds, and
// TaskDone uncounts one; so when a consumer dies holding tasks it did not
// mark done, Join can tell: it returns an error wrapping ErrPeerGone
// instead of waiting for ever (Python's join would).
//
// A JoinableQueue must not be copied; its zero value is not usable.
type JoinableQueue struct {
	Queue
}

// CreateJoinable creates a joinable queue named name whose ring holds
// capacity bytes (see Create).
func CreateJoinable(name string, capacity int, opts ...shm.Option) (*JoinableQueue, error) {
	meta, err := ringMetaShape(capacity, 1, joinShape)
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	seg, err := shm.Create(name, meta, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	j := &JoinableQueue{}
	if err := j.init(seg, false); err != nil {
		seg.Close()
		_ = seg.Unlink()
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	return j, nil
}

// CreateJoinableAnon creates an anonymous joinable queue (see CreateAnon).
func CreateJoinableAnon(capacity int) (*JoinableQueue, error) {
	meta, err := ringMetaShape(capacity, 1, joinShape)
	if err != nil {
		return nil, fmt.Errorf("create anonymous queue: %w", err)
	}
	seg, err := shm.CreateAnon("queue", meta)
	if err != nil {
		return nil, err // names the operation
	}
	j := &JoinableQueue{}
	if err := j.init(seg, false); err != nil {
		seg.Close()
		return nil, fmt.Errorf("create anonymous queue: %w", err)
	}
	return j, nil
}

// OpenJoinable opens the joinable queue called name. It returns an error
// wrapping ErrNotQueue if the segment is not a joinable queue (a plain
// queue included: its Puts were never counted for Join).
func OpenJoinable(name string, opts ...shm.Option) (*JoinableQueue, error) {
	seg, err := shm.Open(name, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	j := &JoinableQueue{}
	if err := j.initJoinable(seg, false); err != nil {
		seg.Close()
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	return j, nil
}

// initJoinable is init that refuses a queue that is not joinable.
func (j *JoinableQueue) initJoinable(seg *shm.Segment, attached bool) error {
	if _, joinable, err := checkRings(seg, 1); err == nil && !joinable {
		return fmt.Errorf("%w: %s is a queue, not a joinable queue; use Open", ErrNotQueue, seg.Path())
	}
	return j.init(seg, attached)
}

// TaskDone marks one message taken from the queue as done, as Python's
// task_done does; the process that took it should call it (see Join). It
// returns an error wrapping ErrTaskDone, and changes nothing, when every
// message put is already marked done.
func (j *JoinableQueue) TaskDone() error {
	if err := j.h.acquire(); err != nil {
		return j.wrap("mark a task done in", err)
	}
	defer j.h.release()
	hd, c := j.h.peers.h, j.r.c
	var d uint64
	for {
		d = hd.done.Load()
		// A Put in progress counts (pendPuts: its message may be taken
		// before it counts itself in puts).
		if d >= max(c.puts.Load(), c.pendPuts.Load()) {
			return j.wrap("mark a task done in", fmt.Errorf("%w (%d put, %d done)", ErrTaskDone, c.puts.Load(), d))
		}
		if hd.done.CompareAndSwap(d, d+1) {
			break
		}
	}
	j.h.taskDone()
	if d+1 >= c.puts.Load() {
		wake(&hd.joinWord)
	}
	return nil
}

// Unfinished returns the number of messages put and not yet marked done: a
// snapshot, as Len is.
func (j *JoinableQueue) Unfinished() int {
	if j.h.acquire() != nil {
		return 0
	}
	defer j.h.release()
	j.r.settleCounts()
	p, d := j.r.c.puts.Load(), j.h.peers.h.done.Load()
	if d >= p {
		return 0
	}
	return int(min(p-d, uint64(^uint(0)>>1)))
}

// Join waits until every message put into the queue was marked done with
// TaskDone (at once if none is unfinished), as Python's join does. See
// JoinContext for what it returns.
func (j *JoinableQueue) Join() error { return j.JoinContext(context.Background()) }

// JoinContext is Join with a deadline or cancellation: it returns nil once
// every message put was marked done, and an error wrapping ctx.Err() if ctx
// ends first. Messages put while it waits count too.
//
// If a process took messages with Get and died (or was killed) before
// marking them done, they can never be done: JoinContext then returns an
// error wrapping ErrPeerGone, which says how many, within about 100 ms of
// the death. A consumer killed inside its Get, before the Get returned, is
// told apart: either the message stays in the queue for the next Get, or it
// went with the dead process and counts as such. This needs each task to be
// marked done by the process that took it (the usual pattern); tasks taken
// in one process and marked done in another are never taken for lost, but
// a death of the taking process may then be reported too early. With more
// consumer processes than the 16 slots of the peer table, deaths are not
// reported (JoinContext waits, as Python's join does).
func (j *JoinableQueue) JoinContext(ctx context.Context) error {
	if err := j.h.acquire(); err != nil {
		return j.wrap("join", err)
	}
	defer j.h.release()
	hd, c := j.h.peers.h, j.r.c
	finished := func() bool {
		return hd.done.Load() >= c.puts.Load() || j.h.closing.Load()
	}
	var lost uint64
	gone := func(full bool) bool {
		if !full {
			return false
		}
		// After a sleep slice: finish the counts of a process that died
		// inside Put or Get, then look for tasks held by nobody alive.
		j.r.settleCounts()
		lost = j.r.lostTasks()
		return lost > 0
	}
	for {
		j.r.settleCounts()
		if finished() {
			if j.h.closing.Load() {
				return j.wrap("join", errHandleClosed)
			}
			return nil
		}
		err := wait(ctx, &hd.joinWord, finished, gone)
		switch {
		case err == errGone:
			return j.wrap("join", fmt.Errorf("%w: %d tasks were taken by processes that died before marking them done", ErrPeerGone, lost))
		case err != nil:
			return j.wrap("join", err)
		}
	}
}

// GobEncode encodes the joinable queue as a reference to its segment (see
// Queue.GobEncode).
func (j *JoinableQueue) GobEncode() ([]byte, error) {
	if j == nil {
		return nil, errors.New("encode joinable queue: nil")
	}
	return j.Queue.GobEncode()
}

// GobDecode attaches to the joinable queue named by an encoded reference
// (see Queue.GobDecode). It returns an error wrapping ErrNotQueue for a
// reference to anything but a joinable queue.
func (j *JoinableQueue) GobDecode(b []byte) error {
	seg, err := attachRef(b)
	if err != nil {
		return fmt.Errorf("decode joinable queue: %w", err)
	}
	if j.h.seg != nil {
		return errors.New("decode joinable queue: into a queue in use")
	}
	if err := j.initJoinable(seg, true); err != nil {
		return fmt.Errorf("decode joinable queue: %w", err)
	}
	return nil
}

// ---- the counts behind Join ----

// settleCounts finishes the counts of a process that died inside a Put or
// a Get (as Len does), and of one that died after its Get committed and
// before the message was counted as taken (attributed behind gets).
func (r *ring) settleCounts() {
	if r.c.puts.Load() != r.c.pendPuts.Load() {
		r.settle(r.ps, r.repairPut)
	}
	g := r.c.gets.Load()
	if g != r.c.pendGets.Load() || (r.joinable && r.h.peers.h.attributed.Load() < g) {
		r.settle(r.gs, r.repairGet)
	}
}

// lostTasks returns how many tasks were taken and not marked done by
// processes that are no longer alive: the tasks taken and counted
// (attributed) minus those marked done minus those live processes hold.
// The reads are ordered so that a concurrent Get or TaskDone can only make
// the result smaller: attributed first (a Get counts its slot before
// attributed), the slots next, done last (TaskDone counts done before its
// slot). With an untracked taker it returns 0.
func (r *ring) lostTasks() uint64 {
	p := r.h.peers
	if p.h.untracked[1].Load() != 0 {
		return 0
	}
	attributed := p.h.attributed.Load()
	var live uint64
	for i := range p.slots {
		s := &p.slots[i]
		o := s.owner.Load()
		held := int32(s.n[1].Load())
		if o == 0 || held <= 0 {
			continue
		}
		if alive(o) {
			live += uint64(held)
		}
	}
	done := p.h.done.Load()
	if attributed <= done+live {
		return 0
	}
	return attributed - done - live
}

// took counts a message this handle's Get took as a task its process holds;
// the caller is inside the consumers' critical section.
func (h *handle) took() {
	if i := h.takerSlot(); i >= 0 {
		h.peers.slots[i].n[1].Add(1)
	}
}

// taskDone uncounts one task its process holds.
func (h *handle) taskDone() {
	if i := h.takerSlot(); i >= 0 {
		h.peers.slots[i].n[1].Add(^uint32(0))
	}
}

// takerSlot returns the peer slot where this handle counts the tasks its
// process holds, registering the process at first use; -1 if the table is
// full (then the handle is an untracked taker, and Join reports no deaths
// while it is open). h.taker holds 0 before the first use, then the slot
// plus one, or -1.
func (h *handle) takerSlot() int {
	if t := h.taker.Load(); t != 0 {
		return int(t) - 1 + int(t>>31)
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if t := h.taker.Load(); t != 0 {
		return int(t) - 1 + int(t>>31)
	}
	i := h.peers.slotOf()
	if i < 0 {
		i = h.peers.claim()
	}
	if i < 0 {
		h.peers.h.untracked[1].Add(1)
		h.taker.Store(-1)
		return -1
	}
	h.taker.Store(int32(i) + 1)
	return i
}

// untake drops an untracked taker's count when its handle closes.
func (h *handle) untake() {
	if h.taker.Load() == -1 {
		h.peers.h.untracked[1].Add(^uint32(0))
	}
}
