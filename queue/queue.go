package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shmpar/shmpar/shm"
)

// Sentinel errors. Every error this package returns for one of these causes
// wraps it, so test with errors.Is; the message around it names the queue
// and the operation.
var (
	// ErrClosed is returned by Put when the queue was closed for writing
	// (CloseWrite), by Get once the queue is closed and every message in it
	// has been taken, and by every method of a Queue or Conn handle after
	// its Close.
	ErrClosed = errors.New("queue closed")

	// ErrFull is returned by TryPut when the ring has no room for the
	// message, and, together with the context's error, by Put when its
	// context ends before room was made.
	ErrFull = errors.New("queue full")

	// ErrEmpty is returned by TryGet when the queue holds no message, and,
	// together with the context's error, by Get when its context ends before
	// a message arrived.
	ErrEmpty = errors.New("queue empty")

	// ErrTooLarge is returned by Put when the message is larger than the
	// ring could ever hold; the message says both sizes.
	ErrTooLarge = errors.New("message too large for the queue")

	// ErrCapacity is returned by Create, CreateAnon and the pipe
	// constructors for a ring capacity below MinCapacity or too large for a
	// segment.
	ErrCapacity = errors.New("invalid queue capacity")

	// ErrNotQueue is returned when a segment opened as a Queue (or as a
	// Pipe) is not one: another kind (an array, say), another element type
	// or shape, or a pipe opened as a queue and the reverse.
	ErrNotQueue = errors.New("segment is not a queue")

	// ErrCorrupt is returned when a ring's indices or a record header are
	// impossible: the segment was damaged by something other than this
	// package. The queue is not usable after it.
	ErrCorrupt = errors.New("queue ring corrupt")

	// ErrPeerGone is returned by Get and Recv (and their Append forms)
	// when the queue or the pipe direction is empty and every process that
	// could put into it is gone: each writer exited, was killed or closed
	// its handle, and none called CloseWrite. Every message they published
	// was received first. See the package documentation, "Dead peers", for
	// who counts as a writer. It is also returned by a pipe's Send that
	// waits for room when every holder of the other end is gone. It does
	// not wrap io.EOF: unlike ErrClosed, it says the stream ended without
	// its writer saying so.
	ErrPeerGone = errors.New("peer gone")

	// ErrCodec is returned by Typed.Put when the codec cannot encode the
	// value (nothing is stored) and by Typed.Get when it cannot decode a
	// message (the message is consumed).
	ErrCodec = errors.New("queue codec error")
)

// errHandleClosed is the error for a method called on a closed handle.
var errHandleClosed = fmt.Errorf("%w: use of a closed handle", ErrClosed)

var (
	errWritersGone = fmt.Errorf("%w: every writer exited or closed its handle without CloseWrite", ErrPeerGone)
	errReadersGone = fmt.Errorf("%w: every holder of the other end exited or closed it", ErrPeerGone)
)

// MinCapacity and MaxCapacity bound the ring sizes Create, CreateAnon and
// the pipe constructors accept, in bytes (16 GiB: a record header names its
// position in the ring exactly up to 32 GiB).
const (
	MinCapacity = 64
	MaxCapacity = 1 << 34
)

// handle is the local side of an open segment, shared by the rings of a
// Queue or a Conn: it makes Close wait for operations in flight, so that no
// operation touches an unmapped ring.
type handle struct {
	seg *shm.Segment
	// unmap lets go of seg on Close: seg.Close, nothing for a segment from
	// the shm.Attach cache, or the last of two ends of a pipe pair.
	unmap   func() error
	mu      sync.RWMutex
	closing atomic.Bool
	words   []*atomic.Uint32 // futex words to kick on Close

	// m is the mapping's process state (the rings' sides), shared with the
	// other handles over the same mapping.
	m *mapping

	// The handle's registration in the peer table, as a writer of ring
	// wring in slot wslot (-1: untracked), with its state wstate.
	peers  *peers
	wmu    sync.Mutex
	wstate atomic.Uint32
	wring  int
	wslot  int

	// taker is where a joinable queue's Gets count the tasks this
	// process holds (see join.go's takerSlot).
	taker atomic.Int32
}

// The states of a handle in the peer table. A handle is counted as a writer
// of its ring while it is maybeWriter or isWriter.
const (
	notWriter   = iota // not counted: never registered, or closed
	maybeWriter        // counted from its making on: it may put
	isWriter           // counted, and it put (or was declared a writer)
	isReader           // not counted: its first use was a Get
)

// attach counts the new handle as a writer of ring e (maybeWriter).
func (h *handle) attach(e int) {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.wring, h.wslot = e, h.peers.register(e)
	h.wstate.Store(maybeWriter)
}

// putting makes the handle a writer that put (isWriter), counting it again
// if it was a reader.
func (h *handle) putting() {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	switch h.wstate.Load() {
	case isWriter:
		return
	case notWriter, isReader:
		if h.closing.Load() {
			return
		}
		h.wslot = h.peers.register(h.wring)
	}
	h.peers.markWrote(h.wring, h.wslot)
	h.wstate.Store(isWriter)
}

// getting makes a handle whose first use is a Get a reader: it no longer
// counts as a writer, so that consumers do not keep each other waiting.
func (h *handle) getting() {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	if h.wstate.Load() == maybeWriter {
		h.peers.unregister(h.wring, h.wslot)
		h.wstate.Store(isReader)
	}
}

// unregister drops the handle's writer registration, if any.
func (h *handle) unregister() {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	switch h.wstate.Swap(notWriter) {
	case maybeWriter, isWriter:
		h.peers.unregister(h.wring, h.wslot)
	}
}

// acquire enters an operation; release must follow.
func (h *handle) acquire() error {
	if h == nil || h.seg == nil {
		return fmt.Errorf("%w: use of an unopened handle", ErrClosed)
	}
	h.mu.RLock()
	if h.closing.Load() {
		h.mu.RUnlock()
		return errHandleClosed
	}
	return nil
}

func (h *handle) release() { h.mu.RUnlock() }

// check is acquire for the fast paths, which take no guard: their side's
// local lock makes Close wait for them (see ring.enterPut).
func (h *handle) check() error {
	if h == nil || h.seg == nil {
		return fmt.Errorf("%w: use of an unopened handle", ErrClosed)
	}
	if h.closing.Load() {
		return errHandleClosed
	}
	return nil
}

// guard runs f under the handle's guard (f touches the mapping).
func (h *handle) guard(f func()) error {
	if err := h.acquire(); err != nil {
		return err
	}
	defer h.release()
	f()
	return nil
}

// close wakes this process's waiters (they see closing and return), waits
// for operations in flight, drops the handle's writer registration and wakes
// every process's waiters again (a reader elsewhere may now find its
// writers gone), and unmaps the segment unless it is shared through the
// Attach cache.
func (h *handle) close() error {
	if h == nil || h.seg == nil || h.closing.Swap(true) {
		return nil
	}
	h.mu.RLock()
	for _, w := range h.words {
		kick(w)
	}
	h.mu.RUnlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Wait for the critical sections in flight (a call holds its side's
	// local lock from its check of closing to its end).
	for _, ring := range h.m.sides {
		for _, s := range ring {
			if s != nil {
				s.local.Lock()
				//lint:ignore SA2001 an empty critical section: waiting is the point
				s.local.Unlock()
			}
		}
	}
	if st := h.wstate.Load(); st == maybeWriter || st == isWriter {
		h.unregister()
		for _, w := range h.words {
			kick(w)
		}
	}
	h.untake()
	h.m.release(h.seg)
	if h.unmap == nil {
		return nil
	}
	return h.unmap()
}

// Queue is a bounded multi-producer, multi-consumer queue of byte messages
// in a shared-memory ring that any number of processes open at once. Get one
// from Create, CreateAnon or Open, or by decoding one with encoding/gob (see
// GobDecode). Its methods may be called from several goroutines. A Queue
// must not be copied (copy the pointer); its zero value is not usable.
type Queue struct {
	h handle
	r ring
}

// Create creates a queue named name whose ring holds capacity bytes
// (rounded up to a multiple of 8). Each message takes 8 bytes of header plus
// its length rounded up to 8, so a ring of capacity bytes holds capacity/16
// messages of 8 bytes or fewer, and no message longer than capacity-8.
// Options choose the directory, mode and persistence (see shm.Option); it
// returns an error wrapping shm.ErrExist if the name is taken.
func Create(name string, capacity int, opts ...shm.Option) (*Queue, error) {
	meta, err := ringMeta(capacity, 1)
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	seg, err := shm.Create(name, meta, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	q, err := newQueue(seg, false)
	if err != nil {
		seg.Close()
		_ = seg.Unlink()
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	return q, nil
}

// CreateAnon creates an anonymous queue (a memfd): nothing is left in any
// directory, and the memory is freed when the last process lets go of it.
// Other processes reach it through its Path while this process keeps it
// open, or by decoding it from a gob stream (engine task arguments).
func CreateAnon(capacity int) (*Queue, error) {
	meta, err := ringMeta(capacity, 1)
	if err != nil {
		return nil, fmt.Errorf("create anonymous queue: %w", err)
	}
	seg, err := shm.CreateAnon("queue", meta)
	if err != nil {
		return nil, err // names the operation
	}
	q, err := newQueue(seg, false)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("create anonymous queue: %w", err)
	}
	return q, nil
}

// Open opens the queue called name. It returns an error wrapping
// ErrNotQueue if the segment is not a queue (an array, a pipe), and the
// errors of shm.Open for bad names and missing, truncated or foreign files.
func Open(name string, opts ...shm.Option) (*Queue, error) {
	seg, err := shm.Open(name, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	q, err := newQueue(seg, false)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	return q, nil
}

// ringMeta returns the segment metadata for rings rings of capacity bytes
// each: uint8 elements of shape [capacity] for a queue, [2, capacity] for
// a pipe.
func ringMeta(capacity, rings int) (shm.Meta, error) {
	return ringMetaShape(capacity, rings, rings)
}

// ringMetaShape is ringMeta with the first dimension of the shape given:
// 1 for a queue ([capacity]), 2 for a pipe ([2, capacity]), and joinShape
// for a joinable queue ([1, capacity]).
func ringMetaShape(capacity, rings, first int) (shm.Meta, error) {
	if capacity < MinCapacity {
		return shm.Meta{}, fmt.Errorf("%w: %d bytes; the smallest ring is %d bytes", ErrCapacity, capacity, MinCapacity)
	}
	if capacity > MaxCapacity {
		return shm.Meta{}, fmt.Errorf("%w: %d bytes; the largest ring is %d bytes", ErrCapacity, capacity, MaxCapacity)
	}
	capacity = (capacity + 7) &^ 7
	shape := []int{capacity}
	switch {
	case rings == 2:
		shape = []int{2, capacity}
	case first == joinShape:
		shape = []int{1, capacity}
	}
	return shm.Meta{DType: shm.Uint8, Shape: shape, Kind: shm.KindQueue}, nil
}

// joinShape marks a joinable queue: its segment's shape is [1, capacity].
const joinShape = -1

// checkRings verifies that seg holds rings rings and returns the ring size,
// and for a queue whether it is joinable.
func checkRings(seg *shm.Segment, rings int) (int, bool, error) {
	m := seg.Meta()
	what := "queue"
	if rings == 2 {
		what = "pipe"
	}
	if m.Kind != shm.KindQueue {
		return 0, false, fmt.Errorf("%w: %s is a %s segment, not a %s", ErrNotQueue, seg.Path(), m.Kind, what)
	}
	if m.DType != shm.Uint8 {
		return 0, false, fmt.Errorf("%w: %s holds %s elements, not the uint8 bytes of a %s", ErrNotQueue, seg.Path(), m.DType, what)
	}
	var size int
	joinable := false
	switch {
	case rings == 1 && len(m.Shape) == 1:
		size = m.Shape[0]
	case rings == 1 && len(m.Shape) == 2 && m.Shape[0] == 1:
		size, joinable = m.Shape[1], true
	case rings == 2 && len(m.Shape) == 2 && m.Shape[0] == 2:
		size = m.Shape[1]
	case len(m.Shape) == 2 && m.Shape[0] == 2:
		return 0, false, fmt.Errorf("%w: %s is a pipe (shape %v), not a queue; use OpenPipe", ErrNotQueue, seg.Path(), m.Shape)
	case len(m.Shape) == 1 || (len(m.Shape) == 2 && m.Shape[0] == 1):
		return 0, false, fmt.Errorf("%w: %s is a queue (shape %v), not a pipe; use Open", ErrNotQueue, seg.Path(), m.Shape)
	default:
		return 0, false, fmt.Errorf("%w: %s has shape %v, not that of a %s", ErrNotQueue, seg.Path(), m.Shape, what)
	}
	if size < MinCapacity || size > MaxCapacity || size%8 != 0 || len(seg.Data()) != size*rings {
		return 0, false, fmt.Errorf("%w: %s has a ring of %d bytes (want a multiple of 8, at least %d)", ErrNotQueue, seg.Path(), size, MinCapacity)
	}
	return size, joinable, nil
}

func newQueue(seg *shm.Segment, attached bool) (*Queue, error) {
	q := &Queue{}
	if err := q.init(seg, attached); err != nil {
		return nil, err
	}
	return q, nil
}

// init makes q a handle of the queue in seg; attached says seg comes from
// the Attach cache (Close leaves it mapped).
func (q *Queue) init(seg *shm.Segment, attached bool) error {
	size, joinable, err := checkRings(seg, 1)
	if err != nil {
		return err
	}
	c, err := ctlAt(seg.Locks(), 0)
	if err != nil {
		return err
	}
	ps, err := peersAt(seg.Locks()[ctlSize:], false)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotQueue, err)
	}
	q.h.seg, q.h.peers = seg, ps
	if !attached {
		q.h.unmap = seg.Close
	}
	q.h.words = []*atomic.Uint32{&c.neWord, &c.nfWord, &ps.h.joinWord}
	q.h.m = mappingFor(seg, []*ctl{c})
	q.r.init(c, seg.Data()[:size:size], &q.h, 0, false, q.h.m)
	q.r.joinable = joinable
	q.h.attach(0)
	return nil
}

// wrap adds the operation and the queue to an error: "put to queue jobs: ...".
func (q *Queue) wrap(op string, err error) error {
	var seg *shm.Segment
	if q != nil {
		seg = q.h.seg
	}
	return fmt.Errorf("%s %s: %w", op, describe(seg, "queue"), err)
}

// describe names a queue or pipe for an error message: "queue jobs",
// "anonymous pipe", "unopened queue".
func describe(seg *shm.Segment, kind string) string {
	switch {
	case seg == nil:
		return "unopened " + kind
	case seg.Anonymous():
		return "anonymous " + kind
	}
	return kind + " " + seg.Name()
}

// Put appends a copy of msg to the queue, waiting while the ring is full.
// It returns nil once the message is stored: from then on it survives the
// death of any process, the caller's included, until a Get takes it. If ctx
// ends first it returns an error wrapping ErrFull and ctx.Err(), having
// stored nothing; if there is room, msg is stored even when ctx is already
// done. It returns an error wrapping ErrClosed after CloseWrite, and one
// wrapping ErrTooLarge, at once, for a message the ring can never hold.
func (q *Queue) Put(ctx context.Context, msg []byte) error {
	if err := q.h.check(); err != nil {
		return q.wrap("put to", err)
	}
	if err := q.r.put(ctx, msg, true); err != nil {
		return q.wrap("put to", err)
	}
	return nil
}

// TryPut is Put without waiting: when the ring has no room for msg now it
// returns an error wrapping ErrFull.
func (q *Queue) TryPut(msg []byte) error {
	if err := q.h.check(); err != nil {
		return q.wrap("put to", err)
	}
	if err := q.r.put(context.Background(), msg, false); err != nil {
		return q.wrap("put to", err)
	}
	return nil
}

// Get removes the oldest message from the queue and returns it in a new
// slice, waiting while the queue is empty. Messages from one producer (one
// goroutine, or several ordered by other means) come out in the order they
// were put. If ctx ends first Get returns an error wrapping ErrEmpty and
// ctx.Err(); once the queue is closed for writing and empty it returns an
// error wrapping ErrClosed, and once it is empty and every writer is gone
// without closing it, an error wrapping ErrPeerGone (see the package
// documentation, Dead peers).
func (q *Queue) Get(ctx context.Context) ([]byte, error) {
	if err := q.h.check(); err != nil {
		return nil, q.wrap("get from", err)
	}
	msg, err := q.r.get(ctx, nil, true, true)
	if err != nil {
		return nil, q.wrap("get from", err)
	}
	return msg, nil
}

// GetAppend is Get that appends the message to dst and returns the extended
// slice, so that a caller who passes buf[:0] with enough capacity allocates
// nothing. On error it returns dst unchanged.
func (q *Queue) GetAppend(ctx context.Context, dst []byte) ([]byte, error) {
	if err := q.h.check(); err != nil {
		return dst, q.wrap("get from", err)
	}
	out, err := q.r.get(ctx, dst, true, false)
	if err != nil {
		return dst, q.wrap("get from", err)
	}
	return out, nil
}

// TryGet is Get without waiting: when the queue is empty now it returns an
// error wrapping ErrEmpty (or ErrClosed, if it is also closed). It does not
// check whether the writers are alive, so it never returns ErrPeerGone.
func (q *Queue) TryGet() ([]byte, error) {
	if err := q.h.check(); err != nil {
		return nil, q.wrap("get from", err)
	}
	msg, err := q.r.get(context.Background(), nil, false, true)
	if err != nil {
		return nil, q.wrap("get from", err)
	}
	return msg, nil
}

// Len returns the number of messages in the queue: a snapshot, which other
// processes may change at once. If a process died inside Put or Get, Len
// first finishes its bookkeeping (as the next Put or Get would), so the
// count is exact for a queue at rest.
func (q *Queue) Len() int {
	if q.h.acquire() != nil {
		return 0
	}
	defer q.h.release()
	return q.r.length()
}

// Cap returns the size of the ring in bytes.
func (q *Queue) Cap() int { return int(q.r.size) }

// MaxMessage returns the length of the largest message the ring can hold;
// Put refuses longer ones with ErrTooLarge.
func (q *Queue) MaxMessage() int { return q.r.maxMsg }

// CloseWrite closes the queue for writing, for every process: later Puts
// return ErrClosed, and Gets take the messages that remain and then return
// ErrClosed instead of waiting, like receives from a closed Go channel. Every
// process waiting in Put or Get is woken. Closing a closed queue does
// nothing. It is the shared counterpart of Close, which only lets go of
// this process's handle.
func (q *Queue) CloseWrite() error {
	if err := q.h.acquire(); err != nil {
		return q.wrap("close", err)
	}
	defer q.h.release()
	if err := q.r.closeWrite(); err != nil {
		return q.wrap("close", err)
	}
	return nil
}

// Closed reports whether CloseWrite was called (by any process).
func (q *Queue) Closed() bool {
	if q.h.acquire() != nil {
		return true
	}
	defer q.h.release()
	return q.r.c.closed.Load() != 0
}

// Close releases this process's handle: waiters in this process return
// ErrClosed, operations in flight finish, and the segment is unmapped (a
// queue decoded from gob shares a process-wide mapping, which stays). The
// queue itself is untouched: other processes go on using it, and its
// messages stay until Unlink (or, for an anonymous queue, until the last
// process closes it). If the handle counted as a writer, it no longer does:
// consumers whose every writer is gone then get ErrPeerGone (see the package
// documentation, Dead peers). Use CloseWrite to tell consumers that no more
// messages will come. Close is idempotent.
func (q *Queue) Close() error {
	if err := q.h.close(); err != nil {
		return q.wrap("close handle of", err)
	}
	return nil
}

// Unlink removes the queue's name; processes that have it open keep using
// it until they Close it. For an anonymous queue it does nothing.
func (q *Queue) Unlink() error {
	if q.h.seg == nil {
		return q.wrap("unlink", errHandleClosed)
	}
	if err := q.h.seg.Unlink(); err != nil {
		return err // names the operation and the file
	}
	return nil
}

// Name returns the queue's name (for an anonymous queue, "queue").
func (q *Queue) Name() string { return q.h.seg.Name() }

// Path returns the file path of the queue's segment; for an anonymous queue
// a /proc/PID/fd/FD path, valid while this process keeps the queue open.
func (q *Queue) Path() string { return q.h.seg.Path() }

// Segment returns the underlying segment.
func (q *Queue) Segment() *shm.Segment { return q.h.seg }
