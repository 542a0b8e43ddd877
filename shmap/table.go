package shmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/lock"
)

// table is one process's view of a map's data region: pointers to its
// parts and the sizes the header gave. It knows keys and values only as
// words; Map converts them. See doc.go for the layout and the protocols.
type table struct {
	hdr      header
	ctl      *control
	stripes  unsafe.Pointer
	buckets  unsafe.Pointer
	entries  unsafe.Pointer
	nb       uint64  // buckets
	ns       uint64  // stripes
	cap      uint32  // entries
	ssize    uintptr // bytes per stripe
	esize    uintptr // bytes per entry
	kwords   int     // words of an entry's key area
	vwords   int     // words of an entry's value area
	vsize    int     // bytes of a value
	voff     uintptr // offset of the value area in an entry
	seed     uint64
	maxSteps uint32 // the longest chain a walk follows before it calls the chain a loop
}

// control is the allocator's cache line, at controlOff.
type control struct {
	allocMu lock.Mutex
	free    atomic.Uint32 // index+1 of the first free entry, 0: none
	hw      atomic.Uint32 // entries [hw, cap) have never been used
}

// stripe is the head of a stripe's block; the value journal (valSlot bytes)
// follows it.
type stripe struct {
	mu      lock.Mutex
	jop     atomic.Uint32 // opNone, or the operation in progress
	jbucket atomic.Uint32 // its bucket
	jent    atomic.Uint32 // its entry (index, not index+1)
	_       uint32
	count   atomic.Int64 // keys in the stripe's buckets
}

// The operations a stripe's journal records.
const (
	opNone   = 0
	opInsert = 1 // linking a new entry at the head of jbucket
	opUpdate = 2 // overwriting entry jent's value with the journal's value
	opDelete = 3 // unlinking entry jent from jbucket and freeing it
)

// Entry states: the second word of an entry.
const (
	stateNever = 0 // never used: entries at and after control.hw
	stateFree  = 1 // on the free list
	stateOwned = 2 // + stripe: allocated by, and in a bucket of, that stripe
)

// A bucket word holds a version in its high half and the index+1 of the
// chain's first entry (0: empty) in its low half. The version is odd while a
// value in the chain is being overwritten.
const (
	verOne   = 1 << 32
	headMask = 1<<32 - 1
)

// Sizes the code relies on (compile-time checks).
var (
	_ [stripeHead - unsafe.Sizeof(stripe{})]byte
	_ [unsafe.Sizeof(stripe{}) - stripeHead]byte
	_ [stripesOff - controlOff - unsafe.Sizeof(control{})]byte
)

// testHook, when set (only by tests), is called at the named points of the
// write protocol so that a test can kill the process there.
var testHook func(point string)

func hook(point string) {
	if testHook != nil {
		testHook(point)
	}
}

// newTable lays a table over the data region at base, described by h.
func newTable(base unsafe.Pointer, h header) *table {
	t := &table{
		hdr:     h,
		ctl:     (*control)(unsafe.Add(base, controlOff)),
		stripes: unsafe.Add(base, h.stripesOff),
		buckets: unsafe.Add(base, h.bucketsOff),
		entries: unsafe.Add(base, h.entriesOff),
		nb:      uint64(h.buckets),
		ns:      uint64(h.stripes),
		cap:     uint32(h.capacity),
		ssize:   uintptr(h.stripeSize),
		esize:   uintptr(h.entrySize),
		kwords:  h.keySlot / 8,
		vwords:  h.valSlot / 8,
		vsize:   h.valSize,
		voff:    uintptr(entryHead + h.keySlot),
		seed:    h.seed,
	}
	t.maxSteps = t.cap
	return t
}

func (t *table) bucket(b uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(t.buckets, 8*uintptr(b)))
}

func (t *table) stripe(s uint64) *stripe {
	return (*stripe)(unsafe.Add(t.stripes, uintptr(s)*t.ssize))
}

func (t *table) stripeOf(b uint64) uint64 { return b % t.ns }

// count returns the sum of the stripes' counts, each read atomically.
func (t *table) count() int {
	n := int64(0)
	for s := range t.ns {
		n += min(max(t.stripe(s).count.Load(), 0), int64(t.cap)) // a damaged count cannot overflow the sum
	}
	return int(n)
}

// usedWords returns the words of key words kw that can differ between two
// keys: all of them, except for a string key, whose length word and the
// words its bytes use (the rest is zero padding up to the map's longest
// key, in the entry as in kw).
func (t *table) usedWords(kw []uint64) []uint64 {
	if t.hdr.stringKey {
		return kw[:1+(min(kw[0], uint64(t.hdr.keySize))+7)/8]
	}
	return kw
}

// bucketOfKey returns the bucket of the key with words kw.
func (t *table) bucketOfKey(kw []uint64) uint64 {
	return bucketOf(hashWords(t.seed, t.usedWords(kw)), t.nb)
}

// journalWord returns word i of stripe st's value journal.
func (t *table) journalWord(st *stripe, i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(unsafe.Pointer(st), stripeHead+8*uintptr(i)))
}

// entry returns the address of entry i (an index, not index+1).
func (t *table) entry(i uint32) unsafe.Pointer {
	return unsafe.Add(t.entries, uintptr(i)*t.esize)
}

func next(p unsafe.Pointer) *atomic.Uint32  { return (*atomic.Uint32)(p) }
func state(p unsafe.Pointer) *atomic.Uint32 { return (*atomic.Uint32)(unsafe.Add(p, 4)) }

func (t *table) keyWord(p unsafe.Pointer, i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(p, entryHead+8*uintptr(i)))
}

func (t *table) valWord(p unsafe.Pointer, i int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(p, t.voff+8*uintptr(i)))
}

func owned(s uint64) uint32 { return stateOwned + uint32(s) }

// bump returns the next even version after ver (ver+2 if ver is even, ver+1
// if odd), in a bucket word's position.
func bump(w uint64) uint64 {
	ver := (w >> 32) + 2
	return ver &^ 1 << 32
}

// keyEqual reports whether entry p's key starts with the words kw (all of
// them, or those usedWords keeps).
func (t *table) keyEqual(p unsafe.Pointer, kw []uint64) bool {
	for i, w := range kw {
		if t.keyWord(p, i).Load() != w {
			return false
		}
	}
	return true
}

// readValue copies entry p's value into dst (vsize bytes): word i holds
// dst[8i:8i+8], the last one zero padded.
func (t *table) readValue(p unsafe.Pointer, dst []byte) {
	n := len(dst) / 8
	for i := range n {
		putNative(dst[8*i:], t.valWord(p, i).Load())
	}
	if r := len(dst) % 8; r != 0 {
		var tmp [8]byte
		putNative(tmp[:], t.valWord(p, n).Load())
		copy(dst[8*n:], tmp[:r])
	}
}

// writeValue stores src (vsize bytes) as entry p's value.
func (t *table) writeValue(p unsafe.Pointer, src []byte) {
	n := len(src) / 8
	for i := range n {
		t.valWord(p, i).Store(native(src[8*i:]))
	}
	if len(src)%8 != 0 {
		t.valWord(p, n).Store(tailWord(src[8*n:]))
	}
}

// corrupt returns an ErrCorrupt error saying what was found.
func (t *table) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// ---- lock-free reads ----

// The results of tryLoad.
const (
	readMiss    = iota // the key is not in the bucket
	readHit            // found; its value is in dst
	readRetry          // a writer changed the bucket meanwhile
	readCorrupt        // the bucket did not change, and its chain is impossible
)

// tryLoad looks kw up in bucket b without a lock: it reads the bucket word,
// walks the chain, copies the value, and reads the bucket word again. The
// result stands only if the word did not change (and was not odd): every
// change to a chain, and every value overwrite, changes its bucket's word,
// and an entry is unlinked (which changes the word) before it can be
// reused.
func (t *table) tryLoad(b uint64, kw []uint64, dst []byte) int {
	kw = t.usedWords(kw)
	bw := t.bucket(b)
	w := bw.Load()
	if w&verOne != 0 {
		return readRetry
	}
	res := readMiss
	steps := uint32(0)
	own := owned(t.stripeOf(b))
	for e := uint32(w); e != 0; steps++ {
		if e > t.cap || steps >= t.maxSteps || state(t.entry(e-1)).Load() != own {
			if bw.Load() == w {
				return readCorrupt
			}
			return readRetry
		}
		p := t.entry(e - 1)
		if t.keyEqual(p, kw) {
			t.readValue(p, dst)
			res = readHit
			break
		}
		e = next(p).Load()
	}
	if bw.Load() != w {
		return readRetry
	}
	return res
}

// ---- locking and repair ----

// lockErr turns an error from locking a stripe or the allocator into the
// error an operation returns.
func (t *table) lockErr(err error) error {
	if errors.Is(err, lock.ErrNotRecoverable) {
		return fmt.Errorf("%w: an earlier repair after a crash found damage (%w)", ErrCorrupt, err)
	}
	return err
}

// lockStripe locks stripe s, first repairing what a process that died
// holding it left half done. On error the caller does not hold the lock.
func (t *table) lockStripe(s uint64) (*stripe, error) {
	st := t.stripe(s)
	err := st.mu.Lock()
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, lock.ErrOwnerDead) {
		return nil, t.lockErr(err)
	}
	if err := t.repairStripe(s, st); err != nil {
		// Leave the mutex inconsistent: unlocking makes it not
		// recoverable, so no process trusts this stripe again.
		_ = st.mu.Unlock()
		return nil, err
	}
	if err := st.mu.Consistent(); err != nil {
		_ = st.mu.Unlock()
		return nil, t.lockErr(err)
	}
	return st, nil
}

func (t *table) unlockStripe(st *stripe) error {
	if err := st.mu.Unlock(); err != nil {
		return t.lockErr(err)
	}
	return nil
}

// lockAlloc locks the allocator, repairing it if its holder died. The
// caller holds a stripe lock (the order is always stripe, then allocator).
func (t *table) lockAlloc() error {
	err := t.ctl.allocMu.Lock()
	if err == nil {
		return nil
	}
	if !errors.Is(err, lock.ErrOwnerDead) {
		return t.lockErr(err)
	}
	if err := t.repairAlloc(); err != nil {
		_ = t.ctl.allocMu.Unlock()
		return err
	}
	if err := t.ctl.allocMu.Consistent(); err != nil {
		_ = t.ctl.allocMu.Unlock()
		return t.lockErr(err)
	}
	return nil
}

func (t *table) unlockAlloc() error {
	if err := t.ctl.allocMu.Unlock(); err != nil {
		return t.lockErr(err)
	}
	return nil
}

// repairAlloc finishes what an allocator holder that died left half done.
// Its two words are each changed by one store, so they are never torn; what
// can be left is an entry marked taken (or being freed) while the word that
// lists it was not yet moved past it. Both cases look the same and have the
// same repair: a head whose entry is not in the state its list promises is
// moved one entry on. An entry skipped this way belongs to a stripe, whose
// own repair frees it again.
func (t *table) repairAlloc() error {
	c := t.ctl
	hw := c.hw.Load()
	if hw > t.cap {
		return t.corrupt("allocator: %d entries used of %d", hw, t.cap)
	}
	if hw < t.cap && state(t.entry(hw)).Load() != stateNever {
		c.hw.Store(hw + 1)
	}
	f := c.free.Load()
	if f > t.cap {
		return t.corrupt("allocator: free list starts at entry %d of %d", f, t.cap)
	}
	if f != 0 && state(t.entry(f-1)).Load() != stateFree {
		f = next(t.entry(f - 1)).Load()
		if f > t.cap || f != 0 && state(t.entry(f-1)).Load() != stateFree {
			return t.corrupt("allocator: free list continues at entry %d, which is not free", f)
		}
		c.free.Store(f)
	}
	return nil
}

// repairStripe makes stripe s consistent after its holder died; the caller
// holds it (after lock.ErrOwnerDead). It reads the journal: an insert whose
// entry is taken but not linked gives the entry back; an update is done
// again from the journal's copy of the value; a delete is finished. Then it
// makes the journaled bucket's version even, walks every chain of the
// stripe to check it and count its keys, and clears the journal. Every step
// can be done twice, so a repairer that dies too leaves the next one the
// same work.
func (t *table) repairStripe(s uint64, st *stripe) error {
	op, b, e := st.jop.Load(), uint64(st.jbucket.Load()), st.jent.Load()
	if op != opNone {
		if op > opDelete || b >= t.nb || t.stripeOf(b) != s || e >= t.cap {
			return t.corrupt("stripe %d: journal names operation %d on bucket %d, entry %d", s, op, b, e)
		}
		p := t.entry(e)
		found, prev, err := t.linked(b, e)
		if err != nil {
			return err
		}
		switch op {
		case opInsert:
			if !found && state(p).Load() == owned(s) {
				if err := t.free(e); err != nil {
					return err
				}
			}
		case opUpdate:
			if !found {
				return t.corrupt("stripe %d: the entry being updated, %d, is not in bucket %d", s, e, b)
			}
			// The writer may have died before it made the version odd:
			// rewrite the value under an odd version in any case, so that
			// no lock-free reader accepts it half rewritten.
			if bw := t.bucket(b); bw.Load()&verOne == 0 {
				bw.Store(bw.Load() + verOne)
			}
			for i := range t.vwords {
				t.valWord(p, i).Store(t.journalWord(st, i).Load())
				if i == 0 && t.vwords > 1 {
					hook("repair:half")
				}
			}
		case opDelete:
			if found {
				t.unlink(b, e, prev)
			}
			if state(p).Load() == owned(s) {
				if err := t.free(e); err != nil {
					return err
				}
			}
		}
		if bw := t.bucket(b); bw.Load()&verOne != 0 {
			bw.Store(bump(bw.Load()) | bw.Load()&headMask)
		}
	}
	n, err := t.checkStripe(s)
	if err != nil {
		return err
	}
	st.count.Store(int64(n))
	st.jop.Store(opNone)
	return nil
}

// linked reports whether entry e is in bucket b's chain, and its
// predecessor (index+1, 0 if e is first). The caller holds b's stripe.
func (t *table) linked(b uint64, e uint32) (bool, uint32, error) {
	prev := uint32(0)
	steps := uint32(0)
	for cur := uint32(t.bucket(b).Load()); cur != 0; steps++ {
		if cur > t.cap || steps >= t.maxSteps {
			return false, 0, t.corrupt("bucket %d: chain leaves the table or loops", b)
		}
		if cur-1 == e {
			return true, prev, nil
		}
		prev = cur
		cur = next(t.entry(cur - 1)).Load()
	}
	return false, 0, nil
}

// checkStripe walks every chain of stripe s and returns how many entries
// they hold, or an error if a chain leaves the table, loops, holds an entry
// of another stripe, or its bucket's version is odd (a write in progress
// with nobody to finish it). The caller holds the stripe.
func (t *table) checkStripe(s uint64) (int, error) {
	n := 0
	for b := s; b < t.nb; b += t.ns {
		w := t.bucket(b).Load()
		if w&verOne != 0 {
			return 0, t.corrupt("bucket %d: a value write was left half done with no journal", b)
		}
		steps := uint32(0)
		for e := uint32(w); e != 0; steps++ {
			if e > t.cap || steps >= t.maxSteps {
				return 0, t.corrupt("bucket %d: chain leaves the table or loops", b)
			}
			p := t.entry(e - 1)
			if st := state(p).Load(); st != owned(s) {
				return 0, t.corrupt("bucket %d: entry %d has state %d, want %d (stripe %d)", b, e-1, st, owned(s), s)
			}
			n++
			e = next(p).Load()
		}
	}
	return n, nil
}

// ---- writes (the caller holds the stripe of every bucket named) ----

// findLocked returns the index+1 of the entry with key kw in bucket b and
// of its predecessor (0: none).
func (t *table) findLocked(b uint64, kw []uint64) (e, prev uint32, err error) {
	kw = t.usedWords(kw)
	steps := uint32(0)
	own := owned(t.stripeOf(b))
	for cur := uint32(t.bucket(b).Load()); cur != 0; steps++ {
		if cur > t.cap || steps >= t.maxSteps {
			return 0, 0, t.corrupt("bucket %d: chain leaves the table or loops", b)
		}
		p := t.entry(cur - 1)
		if st := state(p).Load(); st != own {
			return 0, 0, t.corrupt("bucket %d: entry %d has state %d, want %d", b, cur-1, st, own)
		}
		if t.keyEqual(p, kw) {
			return cur, prev, nil
		}
		prev = cur
		cur = next(p).Load()
	}
	return 0, 0, nil
}

// insert adds a new entry with key kw and value src at the head of bucket
// b, in stripe s. It returns ErrFull when no entry is free.
func (t *table) insert(s uint64, st *stripe, b uint64, kw []uint64, src []byte) error {
	e, err := t.alloc(s, st, b)
	if err != nil {
		return err
	}
	p := t.entry(e)
	for i, w := range kw {
		t.keyWord(p, i).Store(w)
	}
	t.writeValue(p, src)
	bw := t.bucket(b)
	w := bw.Load()
	next(p).Store(uint32(w))
	hook("insert:filled")
	bw.Store(bump(w) | uint64(e+1))
	hook("insert:published")
	st.count.Add(1)
	st.jop.Store(opNone)
	return nil
}

// update overwrites the value of entry e (index+1) in bucket b with src,
// through the stripe's journal.
func (t *table) update(st *stripe, b uint64, e uint32, src []byte) {
	putWords(src, func(i int, w uint64) { t.journalWord(st, i).Store(w) })
	st.jent.Store(e - 1)
	st.jbucket.Store(uint32(b))
	st.jop.Store(opUpdate)
	hook("update:journaled")
	bw := t.bucket(b)
	w := bw.Load()
	bw.Store(w + verOne)
	p := t.entry(e - 1)
	if testHook != nil && t.vwords > 1 {
		t.valWord(p, 0).Store(t.journalWord(st, 0).Load())
		hook("update:half")
	}
	t.writeValue(p, src)
	hook("update:written")
	bw.Store(w + 2*verOne)
	st.jop.Store(opNone)
}

// remove unlinks entry e (index+1, predecessor prev) from bucket b and
// frees it.
func (t *table) remove(st *stripe, b uint64, e, prev uint32) error {
	st.jent.Store(e - 1)
	st.jbucket.Store(uint32(b))
	st.jop.Store(opDelete)
	hook("delete:journaled")
	t.unlink(b, e-1, prev)
	hook("delete:unlinked")
	if err := t.free(e - 1); err != nil {
		return err
	}
	hook("delete:freed")
	st.count.Add(-1)
	st.jop.Store(opNone)
	return nil
}

// unlink takes entry e (an index) out of bucket b's chain, after prev
// (index+1, 0 if e is first), and moves the bucket to a new even version.
func (t *table) unlink(b uint64, e, prev uint32) {
	bw := t.bucket(b)
	w := bw.Load()
	n := next(t.entry(e)).Load()
	if prev == 0 {
		bw.Store(bump(w) | uint64(n))
		return
	}
	next(t.entry(prev - 1)).Store(n)
	bw.Store(bump(w) | w&headMask)
}

// alloc takes an entry for an insert into bucket b of stripe s: from the
// free list, else the first never-used one. It records the insert in the
// stripe's journal before the entry is marked taken, and marks it taken
// before the allocator's list moves past it (see repairAlloc and
// repairStripe for why this order).
func (t *table) alloc(s uint64, st *stripe, b uint64) (uint32, error) {
	if err := t.lockAlloc(); err != nil {
		return 0, err
	}
	c := t.ctl
	journal := func(e uint32) {
		st.jent.Store(e)
		st.jbucket.Store(uint32(b))
		st.jop.Store(opInsert)
	}
	var e uint32
	if f := c.free.Load(); f != 0 {
		if f > t.cap || state(t.entry(f-1)).Load() != stateFree {
			_ = t.unlockAlloc()
			return 0, t.corrupt("allocator: free list starts at entry %d, which is not a free entry", f)
		}
		e = f - 1
		journal(e)
		p := t.entry(e)
		state(p).Store(owned(s))
		hook("alloc:marked")
		c.free.Store(next(p).Load())
	} else if hw := c.hw.Load(); hw < t.cap {
		e = hw
		if state(t.entry(e)).Load() != stateNever {
			_ = t.unlockAlloc()
			return 0, t.corrupt("allocator: entry %d, past the used ones, is in use", e)
		}
		journal(e)
		state(t.entry(e)).Store(owned(s))
		hook("alloc:marked")
		c.hw.Store(hw + 1)
	} else {
		if err := t.unlockAlloc(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: all %d entries are in use", ErrFull, t.cap)
	}
	return e, t.unlockAlloc()
}

// free puts entry e (an index) on the free list. The caller holds the
// stripe that owned it.
func (t *table) free(e uint32) error {
	if err := t.lockAlloc(); err != nil {
		return err
	}
	c := t.ctl
	p := t.entry(e)
	next(p).Store(c.free.Load())
	hook("free:next")
	c.free.Store(e + 1)
	hook("free:linked")
	state(p).Store(stateFree)
	return t.unlockAlloc()
}

// ---- words ----

func native(b []byte) uint64       { return binary.NativeEndian.Uint64(b) }
func putNative(b []byte, w uint64) { binary.NativeEndian.PutUint64(b, w) }

// tailWord returns the last, partial word of a key or value: its bytes,
// zero padded.
func tailWord(b []byte) uint64 {
	var tmp [8]byte
	copy(tmp[:], b)
	return native(tmp[:])
}

// putWords calls put with each word of src, the last one zero padded.
func putWords(src []byte, put func(i int, w uint64)) {
	n := len(src) / 8
	for i := range n {
		put(i, native(src[8*i:]))
	}
	if len(src)%8 != 0 {
		put(n, tailWord(src[8*n:]))
	}
}
