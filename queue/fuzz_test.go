package queue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// FuzzRing fills a queue's whole lock area (the ring's control block and
// the peer table) and its data with arbitrary bytes (as a damaged or hostile
// segment would hold) and runs every operation on it: each must return a
// value or an error, never panic, fault or hang. The two mutex words are
// cleared, since a mutex "held" by a live process rightly makes its lockers
// wait.
func FuzzRing(f *testing.F) {
	const capacity = 128
	const locks = shm.LockAreaSize
	valid := make([]byte, locks+capacity)
	valid[72] = 16 // tail = 16
	copy(valid[locks:], []byte{5, 0, 0, 0, 0xfa, 0xff, 0xff, 0xff, 'h', 'e', 'l', 'l', 'o'})
	f.Add(valid)
	f.Add(make([]byte, locks+capacity))
	full := make([]byte, locks+capacity)
	for i := range full {
		full[i] = 0xff
	}
	f.Add(full)
	// A peer table naming a writer that does not exist (pid 0x7fffffff).
	ghost := make([]byte, locks+capacity)
	copy(ghost[256:], []byte{0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Add(ghost)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := queue.Create("fuzz", capacity, shm.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		defer q.Unlink()
		locks, data := q.Segment().Locks(), q.Segment().Data()
		n := copy(locks, b)
		copy(data, b[n:])
		clear(locks[64:72])   // putMu
		clear(locks[128:136]) // getMu
		h, err := queue.Open("fuzz", shm.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		_ = h.Len()
		_ = h.Closed()
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		if _, err := h.Get(ctx); err != nil && !expected(err) {
			t.Fatalf("Get: unexpected error %v", err)
		}
		for range 4 {
			if _, err := h.TryGet(); err != nil && !expected(err) {
				t.Fatalf("TryGet: unexpected error %v", err)
			}
		}
		if err := h.TryPut([]byte("message")); err != nil && !expected(err) {
			t.Fatalf("TryPut: unexpected error %v", err)
		}
		if _, err := h.TryGet(); err != nil && !expected(err) {
			t.Fatalf("TryGet: unexpected error %v", err)
		}
	})
}

func expected(err error) bool {
	for _, e := range []error{queue.ErrCorrupt, queue.ErrEmpty, queue.ErrFull, queue.ErrClosed, queue.ErrPeerGone} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// FuzzGobDecode decodes arbitrary bytes as an encoded Queue and Conn.
func FuzzGobDecode(f *testing.F) {
	q, err := queue.CreateAnon(64)
	if err != nil {
		f.Fatal(err)
	}
	defer q.Close()
	ref, err := q.GobEncode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ref)
	f.Add(append([]byte("1"), ref...))
	f.Add([]byte("shmpar-ref/1 queue uint8 /nonexistent"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var q queue.Queue
		if q.GobDecode(b) == nil {
			_ = q.Len()
			q.Close()
		}
		var c queue.Conn
		if c.GobDecode(b) == nil {
			_ = c.Buffered()
			c.Close()
		}
	})
}
