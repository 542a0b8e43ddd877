package queue_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// FuzzRing fills a queue's whole lock area (the ring's control block and
// the peer table) and its data with arbitrary bytes (as a damaged or hostile
// segment would hold) and runs every operation on it: each must return a
// value or an error, never panic, fault or hang. The two lock words and the
// two words naming a biased holder inside its critical section are cleared,
// since a lock "held" by a live process rightly makes its lockers wait.
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
		clear(locks[104:112]) // putCS
		clear(locks[128:136]) // getMu
		clear(locks[168:176]) // getCS
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

// FuzzOps runs a sequence of TryPut, TryGet and Len calls, drawn from the
// input, through three handles of one small queue (three mappings: Create,
// Open, and gob decoding), so that the side locks move between mappings
// and their biases are granted and revoked all the time. It runs the same
// sequence twice, with the fast path on (bias after every acquisition) and
// off (never biased: every call takes the lock), and checks every result of
// both against a model FIFO of messages: same order, same bytes, same
// ErrFull and ErrEmpty, same Len.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 10, 1, 0, 3, 50, 9, 4, 2, 2, 5, 0})
	f.Add([]byte("putputgetputgetgetlenputputputputputputput"))
	f.Add(bytes.Repeat([]byte{0, 56, 8, 56, 16, 56, 1, 9, 17}, 20))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, ops []byte) {
		fast := runOps(t, dir, ops, 1)
		slow := runOps(t, dir, ops, math.MaxUint32)
		require.Equal(t, slow, fast, "the biased fast path and the locked path disagree")
	})
}

// runOps runs ops on a fresh queue with the given bias setting, checks each
// result against a model, and returns a transcript of the results.
func runOps(t *testing.T, dir string, ops []byte, bias uint32) []string {
	defer queue.SetBiasAfter(queue.SetBiasAfter(bias))
	const capacity = 256
	q, err := queue.Create("ops", capacity, shm.Dir(dir))
	require.NoError(t, err)
	defer q.Close()
	defer q.Unlink()
	q1, err := queue.Open("ops", shm.Dir(dir))
	require.NoError(t, err)
	defer q1.Close()
	ref, err := q.GobEncode()
	require.NoError(t, err)
	var q2 queue.Queue
	require.NoError(t, q2.GobDecode(ref))
	defer q2.Close()
	hs := []*queue.Queue{q, q1, &q2}

	var model [][]byte
	used, seq := 0, 0
	var out []string
	buf := make([]byte, 0, capacity)
	for i := 0; i+1 < len(ops); i += 2 {
		op, arg := ops[i], int(ops[i+1])
		h := hs[int(op>>2)%len(hs)]
		switch op % 4 {
		case 0, 1: // TryPut of a message of arg%60 bytes, numbered
			n := arg % 60
			msg := make([]byte, n)
			for j := range msg {
				msg[j] = byte(seq*31 + j)
			}
			seq++
			need := 8 + (n+7)&^7
			err := h.TryPut(msg)
			if used+need <= capacity {
				require.NoError(t, err, "op %d: put of %d bytes with %d used", i/2, n, used)
				model = append(model, msg)
				used += need
				out = append(out, fmt.Sprintf("put %d", n))
			} else {
				require.ErrorIs(t, err, queue.ErrFull, "op %d: put of %d bytes with %d used", i/2, n, used)
				out = append(out, "full")
			}
		case 2: // TryGet
			got, err := h.GetAppendTry(buf[:0])
			if len(model) == 0 {
				require.ErrorIs(t, err, queue.ErrEmpty, "op %d", i/2)
				out = append(out, "empty")
				break
			}
			require.NoError(t, err, "op %d", i/2)
			require.Equal(t, model[0], got, "op %d: the oldest message", i/2)
			used -= 8 + (len(model[0])+7)&^7
			model = model[1:]
			out = append(out, fmt.Sprintf("get %d", len(got)))
		case 3:
			require.Equal(t, len(model), h.Len(), "op %d", i/2)
			out = append(out, fmt.Sprintf("len %d", len(model)))
		}
	}
	return out
}
