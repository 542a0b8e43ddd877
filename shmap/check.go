package shmap

import (
	"slices"
)

// Check verifies the whole map, as fsck verifies a file system, and returns
// an error wrapping ErrCorrupt that describes the first problem found. It
// locks every stripe in order (repairing what a dead process left, as any
// operation would) and then the allocator, so every writer waits while it
// runs, for a time that grows with Cap. It checks that every chain stays in
// the table and ends; that every entry in use is in exactly one chain, of
// its own stripe, and every other one is free, as the allocator's bitmap
// says; that the bitmap's summary marks only full words; that every key is
// in the bucket its hash names and only once; that no bucket is left in the
// middle of a write and no journal names an operation; and that each
// stripe's count is right. It is for tests
// and tools, after a crash or before trusting a map file from elsewhere.
func (m *Map[K, V]) Check() error {
	if m == nil || m.t == nil || m.closed.Load() {
		return m.opErr("check", ErrClosed)
	}
	if err := m.t.check(); err != nil {
		return m.opErr("check", err)
	}
	return nil
}

func (t *table) check() (err error) {
	held := make([]*stripe, 0, t.ns)
	defer func() {
		for _, st := range held {
			if uerr := t.unlockStripe(st); err == nil {
				err = uerr
			}
		}
	}()
	for s := range t.ns {
		st, err := t.lockStripe(s)
		if err != nil {
			return err
		}
		held = append(held, st)
	}
	if err := t.lockAlloc(); err != nil {
		return err
	}
	defer func() {
		if uerr := t.unlockAlloc(); err == nil {
			err = uerr
		}
	}()

	seen := make([]bool, t.cap)
	for s := range t.ns {
		st := t.stripe(s)
		if op, _, _ := unjournal(st.jrec.Load()); op != opNone {
			return t.corrupt("stripe %d: journal names operation %d with no operation in progress", s, op)
		}
		n := int64(0)
		for b := s; b < t.nb; b += t.ns {
			w := t.bucket(b).Load()
			if w&verOne != 0 {
				return t.corrupt("bucket %d: version %d is odd with no write in progress", b, w>>32)
			}
			var keys [][]uint64
			for e := uint32(w); e != 0; e = next(t.entry(e - 1)).Load() {
				if e > t.cap {
					return t.corrupt("bucket %d: entry %d is out of the table", b, e-1)
				}
				if seen[e-1] {
					return t.corrupt("bucket %d: entry %d is in two places (or the chain loops)", b, e-1)
				}
				seen[e-1] = true
				p := t.entry(e - 1)
				if got := state(p).Load(); got != owned(s) {
					return t.corrupt("bucket %d: entry %d has state %d, want %d (stripe %d)", b, e-1, got, owned(s), s)
				}
				kw := make([]uint64, t.kwords)
				for i := range kw {
					kw[i] = t.keyWord(p, i).Load()
				}
				if t.hdr.stringKey && (kw[0] > uint64(t.hdr.keySize) || !zeroTail(kw[1:], int(kw[0]))) {
					return t.corrupt("bucket %d: entry %d has a malformed string key (length %d)", b, e-1, kw[0])
				}
				if hb := t.bucketOfKey(kw); hb != b {
					return t.corrupt("bucket %d: entry %d holds a key of bucket %d", b, e-1, hb)
				}
				for _, k := range keys {
					if slices.Equal(k, kw) {
						return t.corrupt("bucket %d: a key is there twice (entry %d)", b, e-1)
					}
				}
				keys = append(keys, kw)
				n++
			}
		}
		if c := st.count.Load(); c != n {
			return t.corrupt("stripe %d: count %d, its chains hold %d keys", s, c, n)
		}
	}
	if j := t.ctl.ajob.Load(); j != 0 {
		return t.corrupt("allocator: journal names operation %d on entry %d with no operation in progress", j>>32, uint32(j))
	}
	for e := range t.cap {
		switch st := state(t.entry(e)).Load(); {
		case st == stateFree && t.used(e):
			return t.corrupt("entry %d is free but marked used in the bitmap: lost", e)
		case st != stateFree && !seen[e]:
			return t.corrupt("entry %d has state %d but is in no chain: lost", e, st)
		case st != stateFree && !t.used(e):
			return t.corrupt("entry %d is in a chain but free in the bitmap", e)
		}
	}
	if r := t.cap % 64; r != 0 && t.bitWord(t.nw-1).Load()>>r != ^uint64(0)>>r {
		return t.corrupt("allocator: bitmap bits past the last entry are not all set")
	}
	for i := range t.nw {
		if t.sumWord(i/64).Load()&(1<<(i%64)) != 0 && t.bitWord(i).Load() != ^uint64(0) {
			return t.corrupt("allocator: the summary marks bitmap word %d full, and it is not", i)
		}
	}
	if r := t.nw % 64; r != 0 && t.sumWord(t.nsum-1).Load()>>r != ^uint64(0)>>r {
		return t.corrupt("allocator: summary bits past the last bitmap word are not all set")
	}
	return nil
}

// zeroTail reports whether the bytes of words after the first n are zero.
func zeroTail(words []uint64, n int) bool {
	for i, w := range words {
		lo := 8 * i
		switch {
		case lo >= n && w != 0:
			return false
		case lo < n && n < lo+8 && w>>(8*(n-lo)) != 0:
			return false
		}
	}
	return true
}
