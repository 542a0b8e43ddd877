package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
)

// ctl is the control block of one ring, laid over the segment's lock area
// (shm.Segment.Locks). It is three 64-byte cache lines: one read-mostly,
// one written by producers, one written by consumers, so that a producer and
// a consumer on different cores do not fight over a line they both write.
// The zero value is an empty, open ring, so a freshly created segment needs
// no initialization. See doc.go for the algorithm.
type ctl struct {
	// Line 0: read on every operation, written only on slow paths.
	closed atomic.Uint32 // 1 once CloseWrite ran; never goes back to 0
	neWord atomic.Uint32 // "not empty" futex word: sequence<<1 | sleepers
	nfWord atomic.Uint32 // "not full" futex word: sequence<<1 | sleepers
	_      [64 - 12]byte

	// Line 1: producers, under putMu (see side.go for the lock words).
	putMu     atomic.Uint64 // the producers' lock
	tail      atomic.Uint64 // bytes ever published; the publication point
	puts      atomic.Uint64 // messages ever published
	pendTail  atomic.Uint64 // tail the current (or last) Put is publishing
	pendPuts  atomic.Uint64 // puts that goes with pendTail
	putCS     atomic.Uint64 // a biased producer inside its critical section
	putStreak atomic.Uint64 // acquisitions in a row by one mapping
	putAck    atomic.Uint64 // a revoked bias holder that has not yet seen it

	// Line 2: consumers, under getMu.
	getMu     atomic.Uint64 // the consumers' lock
	head      atomic.Uint64 // bytes ever consumed; the commit point of a Get
	gets      atomic.Uint64 // messages ever consumed
	pendHead  atomic.Uint64 // head the current (or last) Get is committing
	pendGets  atomic.Uint64 // gets that goes with pendHead
	getCS     atomic.Uint64 // a biased consumer inside its critical section
	getStreak atomic.Uint64 // acquisitions in a row by one mapping
	getAck    atomic.Uint64 // a revoked bias holder that has not yet seen it
}

// ctlSize is the size of a ring's control block in the lock area.
const ctlSize = 192

// The control block must be exactly ctlSize bytes (compile-time check).
var (
	_ [ctlSize - unsafe.Sizeof(ctl{})]byte
	_ [unsafe.Sizeof(ctl{}) - ctlSize]byte
)

const (
	// recHeader is the size of a record header: the message length and its
	// complement, two little-endian uint32s.
	recHeader = 8

	// sleepers is the flag bit of a futex word: some process may sleep on
	// it, so whoever changes the condition must wake it.
	sleepers = 1

	// spinLimit bounds how long a blocked Put or Get spins before it sleeps.
	// Waking a sleeping process costs tens of microseconds on a VM, so a
	// peer that answers within this time is met without a system call.
	spinLimit = 50 * time.Microsecond

	// sleepSlice is the longest one futex sleep lasts; the waiter then
	// re-checks everything (a close, a lost wake-up, a dead process).
	sleepSlice = 100 * time.Millisecond
)

// recSize returns the ring bytes a message of n bytes takes: the header and
// the payload padded to 8 bytes.
func recSize(n int) uint64 { return recHeader + (uint64(n)+7)&^7 }

// A record header is one 64-bit word, written last, with a single store:
// it is the record's commit. Its low half is the length with commitBit set
// (so a zeroed word is never a header), its high half the complement of the
// low half mixed with the record's position, so that the header a record
// left one lap earlier at the same place in the ring is not taken for a new
// one. Positions are exact as long as the ring is smaller than 2^35 bytes
// (MaxCapacity).
const commitBit = 1 << 31

// maxLen is the longest message a header can describe.
const maxLen = commitBit - 1

func lapMix(pos uint64) uint32 { return uint32(pos >> 3) }

// header returns the header of a record of n bytes at position pos.
func header(n int, pos uint64) uint64 {
	lo := uint32(n) | commitBit
	return uint64(lo) | uint64(^lo^lapMix(pos))<<32
}

// parseHeader returns the length of the record at position pos whose header
// word is h, and whether h is a committed header of a record there.
func parseHeader(h, pos uint64) (int, bool) {
	lo := uint32(h)
	if lo&commitBit == 0 || uint32(h>>32) != ^lo^lapMix(pos) {
		return 0, false
	}
	return int(lo &^ commitBit), true
}

// testHook, when set (only by tests), is called at the named points of Put
// and Get so that a test can kill the process there.
var testHook func(point string)

// ring is one process's view of a ring: the shared control block and data,
// plus caches that are only hints and are guarded by the shared mutexes.
type ring struct {
	c      *ctl
	data   []byte // len is a multiple of 8
	size   uint64 // len(data)
	maxMsg int    // largest message that fits
	h      *handle
	idx    int   // the ring's index in the peer table (a pipe end; 0 for a queue)
	pipe   bool  // a pipe's ring: its readers are the holders of the other end
	ps     *side // the producers' side, shared by the mapping's handles
	gs     *side // the consumers' side
	// joinable: a Get counts the message in its taker's peer slot (see
	// join.go).
	joinable bool

	// A past value of head, so never ahead of it: a producer that sees room
	// against headCache has room. It is an atomic only for the race
	// detector, which cannot see that putMu orders the goroutines of one
	// process.
	headCache atomic.Uint64 // under putMu
}

// init points r at a control block and data, for handle h; idx is the
// ring's index in the segment (its entry in the peer table), and pipe says
// whether it is one direction of a pipe.
func (r *ring) init(c *ctl, data []byte, h *handle, idx int, pipe bool, m *mapping) {
	size := uint64(len(data))
	maxMsg := uint64(0)
	if size >= recHeader {
		maxMsg = min(size-recHeader, maxLen, math.MaxInt)
	}
	r.c, r.data, r.size, r.maxMsg, r.h = c, data, size, int(maxMsg), h
	r.idx, r.pipe = idx, pipe
	r.ps, r.gs = m.sides[idx][0], m.sides[idx][1]
	r.headCache.Store(0)
}

// hdrAt returns the header word at ring position pos (8-byte aligned: the
// data starts page-aligned and records are padded to 8 bytes).
func (r *ring) hdrAt(pos uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&r.data[pos]))
}

// committed returns the length of the record at index i (a head or tail
// value) and whether one is committed there.
func (r *ring) committed(i uint64) (int, bool) {
	return parseHeader(r.hdrAt(i%r.size).Load(), i)
}

func ctlAt(locks []byte, i int) (*ctl, error) {
	off := i * ctlSize
	if len(locks) < off+ctlSize {
		return nil, fmt.Errorf("%w: lock area of %d bytes has no room for ring %d", ErrNotQueue, len(locks), i)
	}
	p := unsafe.Pointer(&locks[off])
	if uintptr(p)%64 != 0 {
		return nil, fmt.Errorf("%w: lock area is not 64-byte aligned", ErrNotQueue)
	}
	return (*ctl)(p), nil
}

// corrupt returns an ErrCorrupt error describing the indices.
func (r *ring) corrupt(what string, head, tail uint64) error {
	return fmt.Errorf("%w: %s (head %d, tail %d, ring %d bytes)", ErrCorrupt, what, head, tail, r.size)
}

// checkIndices verifies the invariants head <= tail <= head+size, both
// 8-byte aligned.
func (r *ring) checkIndices(head, tail uint64) error {
	if head > tail || tail-head > r.size || head%8 != 0 || tail%8 != 0 {
		return r.corrupt("indices out of range", head, tail)
	}
	return nil
}

// ---- critical sections and repair ----

// enterPut enters a producers' critical section of this handle: it takes
// the mapping's local lock (so that a Close waits for it), checks the
// handle, and takes the side, repairing the ring if a producer died in its
// critical section. On error nothing is held.
func (r *ring) enterPut(ctx context.Context) error {
	r.ps.local.Lock()
	if r.h.closing.Load() {
		r.ps.local.Unlock()
		return errHandleClosed
	}
	repair, err := r.ps.enter(ctx)
	if err == nil && repair {
		if err = r.repairPut(); err != nil {
			r.ps.broken()
		}
	}
	if err != nil {
		r.ps.local.Unlock()
	}
	return err
}

func (r *ring) exitPut() {
	r.ps.exit()
	r.ps.local.Unlock()
}

// enterGet is enterPut for consumers.
func (r *ring) enterGet(ctx context.Context) error {
	r.gs.local.Lock()
	if r.h.closing.Load() {
		r.gs.local.Unlock()
		return errHandleClosed
	}
	repair, err := r.gs.enter(ctx)
	if err == nil && repair {
		if err = r.repairGet(); err != nil {
			r.gs.broken()
		}
	}
	if err != nil {
		r.gs.local.Unlock()
	}
	return err
}

func (r *ring) exitGet() {
	r.gs.exit()
	r.gs.local.Unlock()
}

// repairPut finishes or discards what a producer that died in its critical
// section was doing; the caller holds the producers' side. An error means
// the ring is damaged: the caller marks the side broken.
func (r *ring) repairPut() error {
	// The dead producer either never committed (no header at tail: its
	// bytes past tail are garbage that the next Put overwrites), or
	// committed its header and maybe did not publish it (a header at tail
	// whose record ends at pendTail: consumers may already have taken it),
	// or published and may not have counted it (tail == pendTail).
	tail, pend := r.c.tail.Load(), r.c.pendTail.Load()
	if tail != pend {
		if n, ok := r.committed(tail); ok {
			if tail+recSize(n) != pend {
				return r.corrupt(fmt.Sprintf("a committed record of %d bytes at tail, but the dead producer was publishing up to %d", n, pend), r.c.head.Load(), tail)
			}
			tail = pend
			storeRel(&r.c.tail, tail)
		}
	}
	if tail == pend {
		storeRel(&r.c.puts, r.c.pendPuts.Load())
	} else {
		// Nothing was committed: forget what the dead producer was about
		// to publish, so that the pending count does not stay one ahead
		// (TaskDone's bound and Join read it).
		storeRel(&r.c.pendTail, tail)
		storeRel(&r.c.pendPuts, r.c.puts.Load())
	}
	if err := r.checkIndices(r.c.head.Load(), tail); err != nil {
		return err
	}
	r.headCache.Store(0)
	return nil
}

// repairGet is repairPut for consumers.
func (r *ring) repairGet() error {
	// The dead consumer either never committed (head != pendHead: the
	// message stays for the next Get) or committed, and the message is gone
	// with it (head == pendHead: only the count may need finishing).
	head := r.c.head.Load()
	if head == r.c.pendHead.Load() {
		storeRel(&r.c.gets, r.c.pendGets.Load())
	}
	if r.joinable {
		// A message the dead consumer took and did not attribute to
		// itself is a task no live process holds: attributing it to
		// nobody lets Join see it (see join.go).
		if g := r.c.gets.Load(); r.h.peers.h.attributed.Load() < g {
			storeRel(&r.h.peers.h.attributed, g)
		}
	}
	// head may pass tail by a record that a producer committed and has not
	// published (or died before publishing): see getLocked.
	if tail := r.c.tail.Load(); head%8 != 0 || head > tail+r.size || tail > head+r.size {
		return r.corrupt("indices out of range", head, tail)
	}
	return nil
}

// ---- put ----

// tooLarge returns the error for a message that can never fit.
func (r *ring) tooLarge(n int) error {
	return fmt.Errorf("%w: a message of %d bytes needs %d bytes of ring, but the ring has %d (largest message %d bytes)",
		ErrTooLarge, n, recSize(n), r.size, r.maxMsg)
}

// put stores msg, waiting for room when block is set.
func (r *ring) put(ctx context.Context, msg []byte, block bool) error {
	if len(msg) > r.maxMsg {
		return r.tooLarge(len(msg))
	}
	need := recSize(len(msg))
	if r.h.wstate.Load() != isWriter {
		if err := r.h.guard(r.h.putting); err != nil {
			return err
		}
	}
	ok, err := r.tryPut(ctx, msg, need)
	if ok || err != nil {
		return err
	}
	if !block {
		return ErrFull
	}
	return r.putWait(ctx, msg, need)
}

// putWait is put's slow path: it waits for room, holding the handle's
// guard so that a Close keeps the ring mapped until it returns.
func (r *ring) putWait(ctx context.Context, msg []byte, need uint64) error {
	if err := r.h.acquire(); err != nil {
		return err
	}
	defer r.h.release()
	room := func() bool {
		if r.c.closed.Load() != 0 || r.h.closing.Load() {
			return true
		}
		tail, head := r.c.tail.Load(), r.c.head.Load()
		return head > tail || r.size-(tail-head) >= need
	}
	var gone func(bool) bool
	if r.pipe {
		gone = func(full bool) bool { return r.h.peers.gone(1-r.idx, full) }
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrFull, err)
		}
		if err := wait(ctx, &r.c.nfWord, room, gone); err != nil {
			if err == errGone {
				return errReadersGone
			}
			return fmt.Errorf("%w: %w", ErrFull, err)
		}
		ok, err := r.tryPut(ctx, msg, need)
		if ok || err != nil {
			return err
		}
	}
}

// tryPut stores msg if there is room, and reports whether it did.
func (r *ring) tryPut(ctx context.Context, msg []byte, need uint64) (bool, error) {
	if err := r.enterPut(ctx); err != nil {
		return false, sideErr(err, ErrFull)
	}
	ok, err := r.putLocked(msg, need)
	r.exitPut() // the local unlock is the barrier wake needs after the commit
	if ok {
		wake(&r.c.neWord)
	}
	return ok, err
}

// sideErr says what a context error met while waiting for a side means:
// nothing was stored (ErrFull) or taken (ErrEmpty).
func sideErr(err, what error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", what, err)
	}
	return err
}

// putLocked writes the record past tail and commits it by writing its
// header last, then publishes it by moving tail. A producer that dies before
// the header store leaves nothing visible; after it, the whole message.
func (r *ring) putLocked(msg []byte, need uint64) (bool, error) {
	if r.c.closed.Load() != 0 {
		return false, ErrClosed
	}
	tail := r.c.tail.Load()
	if tail%8 != 0 {
		return false, r.corrupt("misaligned tail", r.c.head.Load(), tail)
	}
	// Room for the record and, if possible, for the zero word after it.
	head := r.headCache.Load()
	if tail+need+recHeader-head > r.size {
		head = r.c.head.Load()
		if err := r.checkIndices(head, tail); err != nil {
			return false, err
		}
		r.headCache.Store(head)
		if tail+need-head > r.size {
			return false, nil
		}
	}
	next := tail + need
	if next+recHeader-head <= r.size {
		// Zero the word after the record, where the next record's header
		// goes, before committing this one: a consumer that takes this
		// record and looks on finds no header there until the next one is
		// committed, never stale bytes of an older payload. (With no room
		// for it, the ring is full after this record and that word is the
		// oldest record's header, which is a lap old.)
		storeRel(r.hdrAt(next%r.size), 0)
	}
	pos := (tail + recHeader) % r.size
	n := len(msg)
	if testHook != nil {
		// Stop halfway through the copy, so a test can kill us there.
		r.write(pos, msg[:n/2])
		testHook("put:copying")
		r.write((pos+uint64(n/2))%r.size, msg[n/2:])
	} else {
		r.write(pos, msg)
	}

	puts := r.c.puts.Load() + 1
	storeRel(&r.c.pendTail, next)
	storeRel(&r.c.pendPuts, puts)
	storeRel(r.hdrAt(tail%r.size), header(n, tail)) // commit
	if testHook != nil {
		testHook("put:committed")
	}
	storeRel(&r.c.tail, next) // publication
	if testHook != nil {
		testHook("put:published")
	}
	storeRel(&r.c.puts, puts)
	return true, nil
}

// write copies b into the ring at pos, wrapping around the end.
func (r *ring) write(pos uint64, b []byte) {
	k := copy(r.data[pos:], b)
	copy(r.data, b[k:])
}

// ---- get ----

// get takes the oldest message and appends it to dst (a fresh slice when
// dst is nil), waiting for one when block is set. Once the ring is closed
// and empty it returns ErrClosed.
func (r *ring) get(ctx context.Context, dst []byte, block, fresh bool) ([]byte, error) {
	if !r.pipe && r.h.wstate.Load() == maybeWriter {
		if err := r.h.guard(r.h.getting); err != nil {
			return dst, err
		}
	}
	out, ok, err := r.tryGet(ctx, dst, fresh)
	if ok || err != nil {
		return out, err
	}
	if !block {
		return dst, ErrEmpty
	}
	return r.getWait(ctx, dst, fresh)
}

// getWait is get's slow path: it waits for a message, holding the handle's
// guard so that a Close keeps the ring mapped until it returns.
func (r *ring) getWait(ctx context.Context, dst []byte, fresh bool) ([]byte, error) {
	if err := r.h.acquire(); err != nil {
		return dst, err
	}
	defer r.h.release()
	gone := func(full bool) bool { return r.h.peers.gone(r.idx, full) }
	for {
		if err := ctx.Err(); err != nil {
			return dst, fmt.Errorf("%w: %w", ErrEmpty, err)
		}
		if err := wait(ctx, &r.c.neWord, r.readable, gone); err != nil {
			if err == errGone {
				return dst, errWritersGone
			}
			return dst, fmt.Errorf("%w: %w", ErrEmpty, err)
		}
		out, ok, err := r.tryGet(ctx, dst, fresh)
		if ok || err != nil {
			return out, err
		}
	}
}

// readable reports whether a Get should look again: a message may be
// there (a committed record at head, or tail past head), or the ring or
// handle was closed.
func (r *ring) readable() bool {
	if r.c.closed.Load() != 0 || r.h.closing.Load() {
		return true
	}
	head := r.c.head.Load()
	if _, ok := r.committed(head); ok {
		return true
	}
	return r.c.tail.Load() > head
}

// tryGet takes the oldest message if there is one.
func (r *ring) tryGet(ctx context.Context, dst []byte, fresh bool) ([]byte, bool, error) {
	if err := r.enterGet(ctx); err != nil {
		return dst, false, sideErr(err, ErrEmpty)
	}
	out, ok, err := r.getLocked(dst, fresh)
	if !ok && err == nil && r.c.closed.Load() != 0 {
		// CloseWrite sets closed under the producers' side after the last
		// publication, so once it is seen every message ever put is
		// visible: look once more.
		if out, ok, err = r.getLocked(dst, fresh); !ok && err == nil {
			err = ErrClosed
		}
	}
	r.exitGet()
	if ok {
		wake(&r.c.nfWord)
	}
	return out, ok, err
}

// getLocked copies the record at head out of the ring, then commits by
// moving head. A consumer that dies before the head store leaves the
// message in place for the next Get.
//
// A record is there when its header is: the consumer reads no index of the
// producers' on this path, so a busy queue moves no producer cache line to
// the consumer but the record's own. tail is read only when there is no
// header at head: then tail past head means a damaged ring (a producer
// commits the header before it publishes tail). head may pass tail by one
// record, which a producer committed and has not yet published (or died
// before publishing, until the next producer repairs it).
func (r *ring) getLocked(dst []byte, fresh bool) ([]byte, bool, error) {
	head := r.c.head.Load()
	if head%8 != 0 {
		return dst, false, r.corrupt("misaligned head", head, r.c.tail.Load())
	}
	n, ok := r.committed(head)
	if !ok {
		tail := r.c.tail.Load()
		if tail <= head {
			return dst, false, nil
		}
		if tail-head > r.size {
			return dst, false, r.corrupt("indices out of range", head, tail)
		}
		// Published since we looked? Then the header is there now.
		if n, ok = r.committed(head); !ok {
			return dst, false, r.corrupt(fmt.Sprintf("bad record header %#016x", r.hdrAt(head%r.size).Load()), head, tail)
		}
	}
	if n > r.maxMsg {
		return dst, false, r.corrupt(fmt.Sprintf("a record of %d bytes in a ring whose largest is %d", n, r.maxMsg), head, r.c.tail.Load())
	}
	pos := (head + recHeader) % r.size
	var buf []byte
	if fresh {
		dst = make([]byte, n)
		buf = dst
	} else {
		l := len(dst)
		dst = slices.Grow(dst, n)[:l+n]
		buf = dst[l:]
	}
	k := copy(buf, r.data[pos:])
	copy(buf[k:], r.data)
	if testHook != nil {
		testHook("get:copied")
	}

	next := head + recSize(n)
	gets := r.c.gets.Load() + 1
	storeRel(&r.c.pendHead, next)
	storeRel(&r.c.pendGets, gets)
	storeRel(&r.c.head, next) // commit
	if testHook != nil {
		testHook("get:committed")
	}
	storeRel(&r.c.gets, gets)
	if r.joinable {
		if testHook != nil {
			testHook("get:counted")
		}
		r.h.took()
		storeRel(&r.h.peers.h.attributed, gets)
	}
	return dst, true, nil
}

// ---- close and length ----

// closeWrite marks the ring closed under the producers' side, so that no
// Put publishes after it, and wakes every waiter.
func (r *ring) closeWrite() error {
	if err := r.enterPut(context.Background()); err != nil {
		return err
	}
	r.c.closed.Store(1)
	r.exitPut()
	kick(&r.c.neWord)
	kick(&r.c.nfWord)
	return nil
}

// length returns the number of messages in the ring. A process killed
// between moving an index and updating its count leaves the count behind
// until the next process in that side repairs it; so when a count lags
// its pending value, length first settles the side (finishing a dead
// process's work, never waiting for a live one).
func (r *ring) length() int {
	if r.c.puts.Load() != r.c.pendPuts.Load() {
		r.settle(r.ps, r.repairPut)
	}
	if r.c.gets.Load() != r.c.pendGets.Load() {
		r.settle(r.gs, r.repairGet)
	}
	gets := r.c.gets.Load()
	puts := r.c.puts.Load()
	if puts <= gets {
		return 0
	}
	return int(min(puts-gets, math.MaxInt))
}

func (r *ring) settle(s *side, repair func() error) {
	s.local.Lock()
	defer s.local.Unlock()
	held, needRepair := s.settle()
	if !held {
		return
	}
	if needRepair {
		if err := repair(); err != nil {
			s.broken()
			return
		}
	}
	s.exit()
}

// ---- waiting ----

// epoch anchors nanotime on the monotonic clock.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

func word(w *atomic.Uint32) *uint32 { return (*uint32)(unsafe.Pointer(w)) }

// errGone is what wait returns when gone reported the other side gone.
var errGone = errors.New("other side gone")

// wait returns once cond holds (it may be true already), or with the
// context's error. It spins for up to spinLimit, then sleeps on the futex
// word w in slices of at most sleepSlice. The sleeper sets the sleepers bit
// before its last look at cond; the process that makes cond true changes
// the state first and then looks at the bit (see wake). All these are
// sequentially consistent atomics, so either the sleeper sees the change or
// the waker sees the bit: no wake-up is lost.
//
// When gone is not nil, a sleeper asks it, before each sleep, whether the
// processes that could make cond true are all gone; gone(false) must not
// make system calls, gone(true), asked after a sleep slice that timed out,
// may (it reads /proc). If they are gone and cond still does not hold, wait
// returns errGone. A death is thus noticed within one sleep slice, and a
// handle closed elsewhere at once (Close kicks the words).
func wait(ctx context.Context, w *atomic.Uint32, cond func() bool, gone func(full bool) bool) error {
	start := nanotime()
	for i := 0; ; i++ {
		if cond() {
			return nil
		}
		if i&15 == 15 {
			if nanotime()-start > int64(spinLimit) {
				break
			}
			runtime.Gosched()
		}
	}
	var deadline int64
	if d, ok := ctx.Deadline(); ok {
		deadline = nanotime() + int64(time.Until(d))
	}
	if ctx.Done() != nil {
		// The kick must not outlive the wait: once wait returns, the
		// caller may close its handle and unmap the word.
		kicked := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { kick(w); close(kicked) })
		defer func() {
			if !stop() {
				<-kicked
			}
		}()
	}
	timedOut := false
	for {
		v := w.Load()
		if v&sleepers == 0 {
			if !w.CompareAndSwap(v, v|sleepers) {
				continue
			}
			v |= sleepers
		}
		if cond() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if gone != nil {
			if gone(timedOut) {
				// The writers' last publications happened before they
				// went: look once more, so that nothing they sent is left
				// behind.
				if cond() {
					return nil
				}
				return errGone
			}
			if timedOut && testHook != nil {
				testHook("wait:alive") // a full check found the other side alive
			}
		}
		limit := sleepSlice
		if deadline != 0 {
			left := time.Duration(deadline - nanotime())
			if left <= 0 {
				return context.DeadlineExceeded
			}
			limit = min(limit, left)
		}
		err := futex.Wait(word(w), v, limit)
		if err != nil && err != futex.ErrTimeout {
			return fmt.Errorf("futex wait: %w", err)
		}
		timedOut = err == futex.ErrTimeout
	}
}

// wake wakes every sleeper on w if the sleepers bit is set. It bumps the
// sequence and clears the bit in one step before waking, so a sleeper that
// read the old value gets EAGAIN instead of sleeping through it, and one
// that reads the new value sets the bit again before it sleeps. A sleeper
// that died leaves the bit set only until the next wake: nothing stays
// wrong for good. With no sleeper, wake is a single load.
func wake(w *atomic.Uint32) {
	for {
		v := w.Load()
		if v&sleepers == 0 {
			return
		}
		if w.CompareAndSwap(v, (v+2)&^sleepers) {
			break
		}
	}
	_, _ = futex.Wake(word(w), math.MaxInt32)
}

// kick bumps w and wakes every sleeper, whether or not the bit is set
// (close, cancellation).
func kick(w *atomic.Uint32) {
	w.Add(2)
	_, _ = futex.Wake(word(w), math.MaxInt32)
}
