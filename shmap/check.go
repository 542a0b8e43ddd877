package shmap

import (
	"slices"
)

// Check verifies the whole map, as fsck verifies a file system, and returns
// an error wrapping ErrCorrupt that describes the first problem found. It
// locks every stripe in order (repairing what a dead process left, as any
// operation would) and then the allocator, so every writer waits while it
// runs, for a time that grows with Cap. It checks that every chain stays in
// the table and ends; that every entry is in exactly one place, a chain of
// its own stripe, the free list, or the never-used tail; that every key is
// in the bucket its hash names and only once; that no bucket is left in the
// middle of a write; and that each stripe's count is right. It is for tests
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
		if op := st.jop.Load(); op != opNone {
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
	hw := t.ctl.hw.Load()
	if hw > t.cap {
		return t.corrupt("allocator: %d entries used of %d", hw, t.cap)
	}
	for e := t.ctl.free.Load(); e != 0; e = next(t.entry(e - 1)).Load() {
		if e > hw {
			return t.corrupt("free list: entry %d is not among the %d used", e-1, hw)
		}
		if seen[e-1] {
			return t.corrupt("free list: entry %d is in two places (or the list loops)", e-1)
		}
		seen[e-1] = true
		if got := state(t.entry(e - 1)).Load(); got != stateFree {
			return t.corrupt("free list: entry %d has state %d, want %d", e-1, got, stateFree)
		}
	}
	for e := range t.cap {
		switch {
		case e < hw && !seen[e]:
			return t.corrupt("entry %d is neither in a chain nor on the free list: lost", e)
		case e >= hw && state(t.entry(e)).Load() != stateNever:
			return t.corrupt("entry %d, past the %d used, has state %d", e, hw, state(t.entry(e)).Load())
		}
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
