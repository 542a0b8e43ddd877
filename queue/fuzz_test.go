package queue_test

import (
	"errors"
	"testing"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// FuzzRing fills a ring's control block and data with arbitrary bytes (as a
// damaged or hostile segment would hold) and runs every operation on it:
// each must return a value or an error, never panic, fault or hang. The
// two mutex words are cleared, since a mutex "held" by a live process
// rightly makes its lockers wait.
func FuzzRing(f *testing.F) {
	const capacity = 128
	valid := make([]byte, 192+capacity)
	valid[72] = 16 // tail = 16
	copy(valid[192:], []byte{5, 0, 0, 0, 0xfa, 0xff, 0xff, 0xff, 'h', 'e', 'l', 'l', 'o'})
	f.Add(valid)
	f.Add(make([]byte, 192+capacity))
	full := make([]byte, 192+capacity)
	for i := range full {
		full[i] = 0xff
	}
	f.Add(full)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := queue.Create("fuzz", capacity, shm.Dir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		defer q.Unlink()
		locks, data := q.Segment().Locks(), q.Segment().Data()
		n := copy(locks[:192], b)
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
	for _, e := range []error{queue.ErrCorrupt, queue.ErrEmpty, queue.ErrFull, queue.ErrClosed} {
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
