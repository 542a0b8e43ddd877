package queue

import "context"

// SetTestHook sets the function called at the named points of Put and Get
// ("put:copying", "put:committed", "put:published", "get:copied",
// "get:committed") and of a waiting Get ("wait:alive"), so that a test
// child can stop there and be killed.
func SetTestHook(f func(point string)) { testHook = f }

// NotEmptyWord and NotFullWord return the futex words a Get waiting for a
// message and a Put waiting for room sleep on, so that a test can wait until
// a waiter is asleep.
func NotEmptyWord(q *Queue) *uint32 { return word(&q.r.c.neWord) }
func NotFullWord(q *Queue) *uint32  { return word(&q.r.c.nfWord) }

// RecvWord and SendWord return the futex words a Recv waiting for a message
// and a Send waiting for room sleep on, at pipe end c.
func RecvWord(c *Conn) *uint32 { return word(&c.rx.c.neWord) }
func SendWord(c *Conn) *uint32 { return word(&c.tx.c.nfWord) }

// RingWord returns ring i's "not empty" (or, with notFull, "not full")
// futex word in a queue or pipe segment's lock area, for a test that maps
// the segment without a handle.
func RingWord(locks []byte, i int, notFull bool) *uint32 {
	c, err := ctlAt(locks, i)
	if err != nil {
		panic(err)
	}
	if notFull {
		return word(&c.nfWord)
	}
	return word(&c.neWord)
}

// Header returns the committed header of a record of n bytes at ring index
// pos, for tests that forge records.
func Header(n int, pos uint64) uint64 { return header(n, pos) }

// SetBiasAfter sets how many acquisitions in a row bias a side's lock to a
// mapping (1: at once) and returns the old value.
func SetBiasAfter(n uint32) uint32 {
	old := biasAfter
	biasAfter = n
	return old
}

// Biased reports whether the producers' (put) or consumers' side of q's
// ring is biased to q's mapping.
func Biased(q *Queue, put bool) bool {
	s := q.r.gs
	if put {
		s = q.r.ps
	}
	return s.id&lwTok != 0 && s.mu.Load() == s.id|lwBiased
}

// PutLockWord returns the futex word of the producers' lock of q's ring.
func PutLockWord(q *Queue) *uint32 { return q.r.ps.key() }

// GetAppendTry is TryGet that appends to dst, as GetAppend does (the fuzz
// test reuses one buffer).
func (q *Queue) GetAppendTry(dst []byte) ([]byte, error) {
	if err := q.h.check(); err != nil {
		return dst, q.wrap("get from", err)
	}
	out, err := q.r.get(context.Background(), dst, false, false)
	if err != nil {
		return dst, q.wrap("get from", err)
	}
	return out, nil
}

// JoinWord returns the futex word a Join sleeps on.
func JoinWord(j *JoinableQueue) *uint32 { return word(&j.h.peers.h.joinWord) }
