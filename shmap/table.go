package shmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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
	bitmap   unsafe.Pointer // nw words: bit e set while entry e is in use
	summary  unsafe.Pointer // nsum words: bit i set only while bitmap word i is full
	slots    unsafe.Pointer
	nb       uint64  // buckets, one per slot
	ns       uint64  // stripes
	cap      uint32  // entries, one per slot
	nw       uint32  // bitmap words
	nsum     uint32  // summary words
	group    uint32  // slots in a home block: an entry there is fetched with the bucket word
	ssize    uintptr // bytes per stripe
	slsize   uintptr // bytes per slot
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
	ajob    atomic.Uint64 // the allocator's journal: aAlloc or aFree <<32 | entry
	hint    atomic.Uint32 // bitmap word where the search for a free entry starts
}

// The operations the allocator's journal records.
const (
	aNone  = 0
	aAlloc = 1 // marking an entry used: its bit, then its state
	aFree  = 2 // marking an entry free: its state, then its bit
)

// stripe is the head of a stripe's block; the value journal (valSlot bytes)
// follows it.
type stripe struct {
	mu    lock.Mutex
	jrec  atomic.Uint64 // the journal: op<<62 | bucket<<31 | entry (see journal)
	count atomic.Int64  // keys in the stripe's buckets
	_     uint64
}

// The operations a stripe's journal records.
const (
	opNone   = 0
	opInsert = 1 // linking a new entry into jbucket
	opUpdate = 2 // overwriting entry jent's value with the journal's value
	opDelete = 3 // unlinking entry jent from jbucket and freeing it
)

// journal packs a journal record: an operation, a bucket and an entry (an
// index), each bucket and entry below 2^31 (MaxCapacity), so that one
// atomic store writes all three.
func journal(op uint64, b uint64, e uint32) uint64 { return op<<62 | b<<31 | uint64(e) }

// unjournal unpacks a journal record.
func unjournal(r uint64) (op uint64, b uint64, e uint32) {
	return r >> 62, r >> 31 & (1<<31 - 1), uint32(r & (1<<31 - 1))
}

// Entry states: the second word of an entry.
const (
	stateFree  = 0 // not in use (its bitmap bit is clear, but for the moment the allocator changes it)
	stateOwned = 1 // + stripe: allocated by, and in a bucket of, that stripe
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
	nw := bitmapWords(h.capacity)
	t := &table{
		hdr:     h,
		ctl:     (*control)(unsafe.Add(base, controlOff)),
		stripes: unsafe.Add(base, h.stripesOff),
		bitmap:  unsafe.Add(base, h.bitmapOff),
		summary: unsafe.Add(base, h.bitmapOff+8*nw),
		slots:   unsafe.Add(base, h.slotsOff),
		nb:      uint64(h.buckets),
		ns:      uint64(h.stripes),
		cap:     uint32(h.capacity),
		nw:      uint32(nw),
		nsum:    uint32(summaryWords(h.capacity)),
		group:   uint32(max(1, blockSize/h.slotSize)),
		ssize:   uintptr(h.stripeSize),
		slsize:  uintptr(h.slotSize),
		kwords:  h.keySlot / 8,
		vwords:  h.valSlot / 8,
		vsize:   h.valSize,
		voff:    uintptr(entryHead + h.keySlot),
		seed:    h.seed,
	}
	t.maxSteps = t.cap
	return t
}

// initAlloc marks the bitmap's bits past the last entry, and the summary's
// bits past the last bitmap word, as used, so that no search returns them.
// Create calls it before it writes the header.
func (t *table) initAlloc() {
	if r := t.cap % 64; r != 0 {
		t.bitWord(t.nw - 1).Store(^uint64(0) << r)
	}
	if r := t.nw % 64; r != 0 {
		t.sumWord(t.nsum - 1).Store(^uint64(0) << r)
	}
}

// bucket returns bucket b's word, the first word of slot b.
func (t *table) bucket(b uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(t.slots, uintptr(b)*t.slsize))
}

func (t *table) stripe(s uint64) *stripe {
	return (*stripe)(unsafe.Add(t.stripes, uintptr(s)*t.ssize))
}

func (t *table) bitWord(i uint32) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(t.bitmap, 8*uintptr(i)))
}

func (t *table) sumWord(i uint32) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(t.summary, 8*uintptr(i)))
}

// used reports whether entry e's bitmap bit is set.
func (t *table) used(e uint32) bool { return t.bitWord(e/64).Load()&(1<<(e%64)) != 0 }

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

// entry returns the address of entry i (an index, not index+1): the part
// of slot i after its bucket word.
func (t *table) entry(i uint32) unsafe.Pointer {
	return unsafe.Add(t.slots, uintptr(i)*t.slsize+entryOff)
}

// inBlock reports whether entry e (an index) is in bucket b's home block,
// the slots fetched with b's word.
func (t *table) inBlock(b uint64, e uint32) bool { return uint64(e/t.group) == b/uint64(t.group) }

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
// Its journal names the entry it was marking used or free; the entry's
// state is the truth, and its bitmap bit is made to follow it. (What a
// death can leave is an entry whose state is free with its bit still set:
// allocation sets the bit before the state, freeing clears the state before
// the bit. An entry given to a stripe this way is the stripe's to give back,
// by its own repair.) Summary bits need no repair: one is set only after its
// bitmap word is full and cleared before a bit of the word is, so a death
// between the two leaves a clear summary bit over a full word, which the
// search sets again when it finds it.
func (t *table) repairAlloc() error {
	c := t.ctl
	j := c.ajob.Load()
	if op, e := j>>32, uint32(j); op != aNone {
		if op > aFree || e >= t.cap {
			return t.corrupt("allocator: journal names operation %d on entry %d", op, e)
		}
		switch free := state(t.entry(e)).Load() == stateFree; {
		case free && t.used(e):
			t.clearBit(e)
		case !free && !t.used(e):
			t.setBit(e)
		}
		c.ajob.Store(aNone)
	}
	return nil
}

// repairStripe makes stripe s consistent after its holder died; the caller
// holds it (after lock.ErrOwnerDead). It reads the journal: an insert whose
// entry is taken but not linked gives the entry back; an update is done
// again from the journal's copy of the value; a delete is finished. The
// journaled bucket moves to a new even version (before a deleted entry is
// freed, so that no reader still walking the old chain accepts what a reuse
// writes there). Then it walks every chain of the stripe to check it and
// count its keys, and clears the journal. Every step can be done twice, so
// a repairer that dies too leaves the next one the same work.
func (t *table) repairStripe(s uint64, st *stripe) error {
	op, b, e := unjournal(st.jrec.Load())
	if op != opNone {
		if b >= t.nb || t.stripeOf(b) != s || e >= t.cap {
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
			t.bumpBucket(b)
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
			t.bumpBucket(b)
		case opDelete:
			if found {
				t.unlink(b, e, prev)
			} else {
				t.bumpBucket(b)
			}
			if state(p).Load() == owned(s) {
				if err := t.free(e); err != nil {
					return err
				}
			}
		}
	}
	n, err := t.checkStripe(s)
	if err != nil {
		return err
	}
	st.count.Store(int64(n))
	st.jrec.Store(0)
	return nil
}

// bumpBucket moves bucket b to its next even version.
func (t *table) bumpBucket(b uint64) {
	bw := t.bucket(b)
	w := bw.Load()
	bw.Store(bump(w) | w&headMask)
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
// of another stripe or one the bitmap calls free, or its bucket's version
// is odd (a write in progress with nobody to finish it). The caller holds
// the stripe.
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
			if !t.used(e - 1) {
				return 0, t.corrupt("bucket %d: entry %d is in the chain but free in the bitmap", b, e-1)
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

// insert adds a new entry with key kw and value src to bucket b, in stripe
// s. It returns ErrFull when no entry is free. The entries of a chain that
// lie in the bucket's home block come first, so that a lookup finds them in
// the lines it fetched the bucket word with: a new entry there goes first,
// one elsewhere after them.
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
	prev := uint32(0)
	if !t.inBlock(b, e) {
		for cur, steps := uint32(w), uint32(0); cur != 0 && cur <= t.cap && t.inBlock(b, cur-1) && steps <= t.group; steps++ {
			prev = cur
			cur = next(t.entry(cur - 1)).Load()
		}
	}
	if prev == 0 {
		next(p).Store(uint32(w))
		hook("insert:filled")
		bw.Store(bump(w) | uint64(e+1))
	} else {
		pp := t.entry(prev - 1)
		next(p).Store(next(pp).Load())
		hook("insert:filled")
		next(pp).Store(e + 1)
		hook("insert:linked")
		bw.Store(bump(w) | w&headMask)
	}
	hook("insert:published")
	st.count.Add(1)
	st.jrec.Store(0)
	return nil
}

// update overwrites the value of entry e (index+1) in bucket b with src.
// A value of one word is stored with one atomic store, which is its commit
// point, and the bucket moves to a new version after it (Range's
// snapshots check it); a longer value goes through the stripe's journal,
// under an odd version.
func (t *table) update(st *stripe, b uint64, e uint32, src []byte) {
	bw := t.bucket(b)
	p := t.entry(e - 1)
	if t.vwords <= 1 {
		t.writeValue(p, src)
		hook("update:written")
		w := bw.Load()
		bw.Store(bump(w) | w&headMask)
		return
	}
	putWords(src, func(i int, w uint64) { t.journalWord(st, i).Store(w) })
	st.jrec.Store(journal(opUpdate, b, e-1))
	hook("update:journaled")
	w := bw.Load()
	bw.Store(w + verOne)
	if testHook != nil {
		t.valWord(p, 0).Store(t.journalWord(st, 0).Load())
		hook("update:half")
	}
	t.writeValue(p, src)
	hook("update:written")
	bw.Store(w + 2*verOne)
	st.jrec.Store(0)
}

// remove unlinks entry e (index+1, predecessor prev) from bucket b and
// frees it.
func (t *table) remove(st *stripe, b uint64, e, prev uint32) error {
	st.jrec.Store(journal(opDelete, b, e-1))
	hook("delete:journaled")
	t.unlink(b, e-1, prev)
	hook("delete:unlinked")
	if err := t.free(e - 1); err != nil {
		return err
	}
	hook("delete:freed")
	st.count.Add(-1)
	st.jrec.Store(0)
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
	hook("delete:relinked")
	bw.Store(bump(w) | w&headMask)
}

// alloc takes a free entry for an insert into bucket b of stripe s (see
// pick). It records the insert in the stripe's journal, then the entry in
// the allocator's, then sets the entry's bitmap bit and marks it the
// stripe's (see repairAlloc and repairStripe for why this order).
func (t *table) alloc(s uint64, st *stripe, b uint64) (uint32, error) {
	if err := t.lockAlloc(); err != nil {
		return 0, err
	}
	e, ok, err := t.pick(b)
	if err == nil && ok && state(t.entry(e)).Load() != stateFree {
		err = t.corrupt("allocator: entry %d is free in the bitmap and in use (state %d)", e, state(t.entry(e)).Load())
	}
	if err != nil || !ok {
		if uerr := t.unlockAlloc(); err == nil {
			err = uerr
		}
		if err == nil {
			err = fmt.Errorf("%w: all %d entries are in use", ErrFull, t.cap)
		}
		return 0, err
	}
	st.jrec.Store(journal(opInsert, b, e))
	t.ctl.ajob.Store(aAlloc<<32 | uint64(e))
	t.setBit(e)
	hook("alloc:bit")
	state(t.entry(e)).Store(owned(s))
	hook("alloc:marked")
	t.ctl.ajob.Store(aNone)
	return e, t.unlockAlloc()
}

// pick chooses a free entry for a new key of bucket b: b's own slot if it
// is free, else another free slot of b's home block, else a free slot in
// the same page as b's, else the first free entry the bitmap's search
// finds. It reports false when every entry is
// in use. The caller holds the allocator.
func (t *table) pick(b uint64) (uint32, bool, error) {
	home := uint32(b)
	if !t.used(home) {
		return home, true, nil
	}
	lo := home / t.group * t.group
	for e := lo; e < min(lo+t.group, t.cap); e++ {
		if !t.used(e) {
			return e, true, nil
		}
	}
	// A slot of the same page costs a lookup far less than one elsewhere:
	// no page-table walk, and the memory row is likely still open.
	start := uintptr(b) * t.slsize / pageSize * pageSize
	lo = uint32((start + t.slsize - 1) / t.slsize)
	hi := uint32(min((start+pageSize+t.slsize-1)/t.slsize, uintptr(t.cap)))
	for i := lo / 64; i*64 < hi; i++ {
		free := ^t.bitWord(i).Load()
		if i == lo/64 {
			free &^= 1<<(lo%64) - 1
		}
		if (i+1)*64 > hi {
			free &= 1<<(hi-i*64) - 1
		}
		if free != 0 {
			return i*64 + uint32(bits.TrailingZeros64(free)), true, nil
		}
	}
	return t.search()
}

// search finds a free entry in the bitmap, starting at the hint's summary
// word and going round once: it skips the bitmap words the summary marks
// full, and marks full those it finds full unmarked. It reads each summary
// word once, so it ends; at most Cap/4096 summary words and one bitmap word
// per free one, besides the words it marks.
func (t *table) search() (uint32, bool, error) {
	first := t.ctl.hint.Load() / 64
	for n := range t.nsum {
		si := (first + n) % t.nsum
		sw := t.sumWord(si).Load()
		for sw != ^uint64(0) {
			j := uint32(bits.TrailingZeros64(^sw))
			sw |= 1 << j
			wi := si*64 + j
			if wi >= t.nw {
				return 0, false, t.corrupt("allocator: summary word %d says bitmap word %d, of %d, has room", si, wi, t.nw)
			}
			w := t.bitWord(wi).Load()
			if w == ^uint64(0) {
				t.sumWord(si).Store(t.sumWord(si).Load() | 1<<j)
				continue
			}
			e := wi*64 + uint32(bits.TrailingZeros64(^w))
			if e >= t.cap {
				return 0, false, t.corrupt("allocator: bitmap word %d has a free bit past the last entry", wi)
			}
			t.ctl.hint.Store(wi)
			return e, true, nil
		}
	}
	return 0, false, nil
}

// setBit marks entry e used in the bitmap, and its word full in the
// summary if it now is.
func (t *table) setBit(e uint32) {
	bw := t.bitWord(e / 64)
	w := bw.Load() | 1<<(e%64)
	bw.Store(w)
	if w == ^uint64(0) {
		sw := t.sumWord(e / 64 / 64)
		sw.Store(sw.Load() | 1<<(e/64%64))
	}
}

// clearBit marks entry e free in the bitmap, clearing its word's summary
// bit first.
func (t *table) clearBit(e uint32) {
	sw := t.sumWord(e / 64 / 64)
	if s := sw.Load(); s&(1<<(e/64%64)) != 0 {
		sw.Store(s &^ (1 << (e / 64 % 64)))
	}
	bw := t.bitWord(e / 64)
	bw.Store(bw.Load() &^ (1 << (e % 64)))
}

// free marks entry e (an index) free. The caller holds the stripe that
// owned it.
func (t *table) free(e uint32) error {
	if err := t.lockAlloc(); err != nil {
		return err
	}
	c := t.ctl
	c.ajob.Store(aFree<<32 | uint64(e))
	state(t.entry(e)).Store(stateFree)
	hook("free:marked")
	t.clearBit(e)
	c.hint.Store(e / 64)
	c.ajob.Store(aNone)
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
