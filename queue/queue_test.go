package queue_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/array"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// newQueue creates a queue in a fresh temporary directory and closes it when
// the test ends.
func newQueue(t *testing.T, capacity int) (*queue.Queue, string) {
	t.Helper()
	dir := t.TempDir()
	q, err := queue.Create("q", capacity, shm.Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { q.Close() })
	return q, dir
}

// within runs f in a goroutine and fails the test if it takes longer than d.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not finish within %v", d)
	}
}

func TestPutGetOrder(t *testing.T) {
	q, _ := newQueue(t, 4096)
	ctx := context.Background()
	require.Equal(t, 0, q.Len())
	for i := range 10 {
		require.NoError(t, q.Put(ctx, []byte(fmt.Sprintf("msg %d", i))))
	}
	require.Equal(t, 10, q.Len())
	for i := range 10 {
		msg, err := q.Get(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("msg %d", i), string(msg))
	}
	require.Equal(t, 0, q.Len())
	_, err := q.TryGet()
	require.ErrorIs(t, err, queue.ErrEmpty)
}

func TestEmptyMessage(t *testing.T) {
	q, _ := newQueue(t, 64)
	require.NoError(t, q.TryPut(nil))
	require.NoError(t, q.TryPut([]byte{}))
	for range 2 {
		msg, err := q.TryGet()
		require.NoError(t, err)
		require.Empty(t, msg)
	}
}

// TestWrapAround pushes messages of every size through a small ring, so that
// records and headers wrap at every offset.
func TestWrapAround(t *testing.T) {
	q, _ := newQueue(t, 200) // rounded to 200 (a multiple of 8)
	require.Equal(t, 200, q.Cap())
	require.Equal(t, 192, q.MaxMessage())
	next, want := 0, 0
	var buf []byte
	for want < 3000 {
		msg := crcMsg(next, 8+next%185)
		err := q.TryPut(msg)
		if err == nil {
			next++
			continue
		}
		require.ErrorIs(t, err, queue.ErrFull)
		got, err := q.GetAppend(context.Background(), buf[:0])
		require.NoError(t, err)
		require.NoError(t, checkCRCMsg(got))
		require.Equal(t, uint32(want), binary.LittleEndian.Uint32(got[4:]))
		want++
		buf = got
	}
}

func TestGetAppend(t *testing.T) {
	q, _ := newQueue(t, 1024)
	ctx := context.Background()
	require.NoError(t, q.Put(ctx, []byte("world")))
	buf := make([]byte, 0, 64)
	buf = append(buf, "hello "...)
	out, err := q.GetAppend(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "hello world", string(out))
	require.Equal(t, &buf[:1][0], &out[0], "GetAppend must reuse dst's array when it has room")

	// Allocation-free with a reused buffer.
	msg := []byte("12345678")
	allocs := testing.AllocsPerRun(100, func() {
		if err := q.TryPut(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetAppend(ctx, buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

func TestTooLarge(t *testing.T) {
	q, _ := newQueue(t, 64)
	require.Equal(t, 56, q.MaxMessage())
	err := q.Put(context.Background(), make([]byte, 57))
	require.ErrorIs(t, err, queue.ErrTooLarge)
	require.Contains(t, err.Error(), "57 bytes")
	require.Contains(t, err.Error(), "largest message 56 bytes")
	require.ErrorIs(t, q.TryPut(make([]byte, 1<<20)), queue.ErrTooLarge)
	require.Equal(t, 0, q.Len())
	require.NoError(t, q.Put(context.Background(), make([]byte, 56)))
}

func TestBlockingFull(t *testing.T) {
	q, _ := newQueue(t, 64) // four 8-byte messages
	for i := range 4 {
		require.NoError(t, q.TryPut([]byte{byte(i)}))
	}
	require.ErrorIs(t, q.TryPut([]byte{9}), queue.ErrFull)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := q.Put(ctx, []byte{9})
	require.ErrorIs(t, err, queue.ErrFull)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 4, q.Len())

	// A blocked Put completes once a Get makes room.
	putErr := make(chan error, 1)
	go func() { putErr <- q.Put(context.Background(), []byte{4}) }()
	waitAsleep(t, queue.NotFullWord(q))
	msg, err := q.Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, []byte{0}, msg)
	select {
	case err := <-putErr:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Put not woken by Get")
	}
	for i := 1; i <= 4; i++ {
		msg, err := q.TryGet()
		require.NoError(t, err)
		require.Equal(t, []byte{byte(i)}, msg)
	}
}

func TestBlockingEmpty(t *testing.T) {
	q, _ := newQueue(t, 256)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := q.Get(ctx)
	require.ErrorIs(t, err, queue.ErrEmpty)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan string, 1)
	go func() {
		msg, err := q.Get(context.Background())
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(msg)
	}()
	waitAsleep(t, queue.NotEmptyWord(q))
	require.NoError(t, q.Put(context.Background(), []byte("wake")))
	select {
	case s := <-got:
		require.Equal(t, "wake", s)
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Get not woken by Put")
	}
}

func TestCancel(t *testing.T) {
	q, _ := newQueue(t, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := testproc.WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(queue.NotEmptyWord(q))), cancel)
	within(t, 10*time.Second, func() {
		_, err := q.Get(ctx)
		require.ErrorIs(t, err, context.Canceled)
	})
	require.NoError(t, done())
	// A cancelled context does not stop a Put that has room, nor a Get of a
	// waiting message.
	require.NoError(t, q.Put(ctx, []byte("x")))
	msg, err := q.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "x", string(msg))
}

func TestCloseWrite(t *testing.T) {
	q, _ := newQueue(t, 256)
	ctx := context.Background()

	// Waiters are woken by CloseWrite.
	getErr := make(chan error, 1)
	go func() {
		_, err := q.Get(ctx)
		getErr <- err
	}()
	waitAsleep(t, queue.NotEmptyWord(q))
	require.NoError(t, q.Put(ctx, []byte("first")))
	require.NoError(t, <-getErr)

	for _, m := range []string{"a", "b", "c"} {
		require.NoError(t, q.Put(ctx, []byte(m)))
	}
	require.False(t, q.Closed())
	require.NoError(t, q.CloseWrite())
	require.NoError(t, q.CloseWrite(), "closing twice is fine")
	require.True(t, q.Closed())
	require.ErrorIs(t, q.Put(ctx, []byte("d")), queue.ErrClosed)
	require.ErrorIs(t, q.TryPut([]byte("d")), queue.ErrClosed)
	require.Equal(t, 3, q.Len())
	for _, m := range []string{"a", "b", "c"} {
		msg, err := q.Get(ctx)
		require.NoError(t, err)
		require.Equal(t, m, string(msg))
	}
	within(t, 10*time.Second, func() {
		_, err := q.Get(ctx)
		require.ErrorIs(t, err, queue.ErrClosed)
	})
	_, err := q.TryGet()
	require.ErrorIs(t, err, queue.ErrClosed)

	// A Get already waiting when CloseWrite comes returns ErrClosed.
	q2, _ := newQueue(t, 256)
	go func() {
		_, err := q2.Get(ctx)
		getErr <- err
	}()
	waitAsleep(t, queue.NotEmptyWord(q2))
	require.NoError(t, q2.CloseWrite())
	select {
	case err := <-getErr:
		require.ErrorIs(t, err, queue.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("waiting Get not woken by CloseWrite")
	}

	// And a Put waiting for room.
	q3, _ := newQueue(t, 64)
	for range 4 {
		require.NoError(t, q3.TryPut([]byte{1}))
	}
	putErr := make(chan error, 1)
	go func() { putErr <- q3.Put(ctx, []byte{2}) }()
	waitAsleep(t, queue.NotFullWord(q3))
	require.NoError(t, q3.CloseWrite())
	select {
	case err := <-putErr:
		require.ErrorIs(t, err, queue.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("waiting Put not woken by CloseWrite")
	}
}

// TestCloseHandle checks that Close of one handle wakes its waiters, makes
// its methods fail cleanly, and leaves the queue to other handles.
func TestCloseHandle(t *testing.T) {
	q, dir := newQueue(t, 256)
	q2, err := queue.Open("q", shm.Dir(dir))
	require.NoError(t, err)

	getErr := make(chan error, 1)
	go func() {
		_, err := q2.Get(context.Background())
		getErr <- err
	}()
	waitAsleep(t, queue.NotEmptyWord(q2))
	within(t, 10*time.Second, func() { require.NoError(t, q2.Close()) })
	require.ErrorIs(t, <-getErr, queue.ErrClosed)
	require.NoError(t, q2.Close(), "Close is idempotent")
	require.ErrorIs(t, q2.Put(context.Background(), nil), queue.ErrClosed)
	_, err = q2.Get(context.Background())
	require.ErrorIs(t, err, queue.ErrClosed)
	require.Equal(t, 0, q2.Len())

	// The other handle still works, and the queue is not closed.
	require.False(t, q.Closed())
	require.NoError(t, q.Put(context.Background(), []byte("still here")))
	msg, err := q.Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, "still here", string(msg))

	var zero queue.Queue
	require.ErrorIs(t, zero.Put(context.Background(), nil), queue.ErrClosed)
}

// TestManyGoroutines runs producers and consumers as goroutines of one
// process on two handles (two mappings), for the race detector: with the
// default bias policy, and with a bias granted after every acquisition, so
// that the two mappings revoke each other's all the time.
func TestManyGoroutines(t *testing.T) {
	t.Run("default", testManyGoroutines)
	t.Run("bias-at-once", func(t *testing.T) {
		defer queue.SetBiasAfter(queue.SetBiasAfter(1))
		testManyGoroutines(t)
	})
}

func testManyGoroutines(t *testing.T) {
	q, dir := newQueue(t, 512)
	q2, err := queue.Open("q", shm.Dir(dir))
	require.NoError(t, err)
	defer q2.Close()
	const producers, n = 4, 2000
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			h := []*queue.Queue{q, q2}[p%2]
			for i := range n {
				if err := h.Put(ctx, streamMsg(nil, p, i, 16+i%40)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := make([][]bool, producers)
	for i := range seen {
		seen[i] = make([]bool, n)
	}
	var cg sync.WaitGroup
	for c := range 3 {
		cg.Go(func() {
			h := []*queue.Queue{q, q2}[c%2]
			last := []int{-1, -1, -1, -1}
			for {
				msg, err := h.Get(ctx)
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				id, seq, err := parseStreamMsg(msg)
				if err != nil || seq <= last[id] {
					t.Errorf("bad or out-of-order message %d/%d: %v", id, seq, err)
					return
				}
				last[id] = seq
				mu.Lock()
				if seen[id][seq] {
					t.Errorf("message %d/%d delivered twice", id, seq)
				}
				seen[id][seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, q.CloseWrite())
	cg.Wait()
	for p := range producers {
		for i := range n {
			require.True(t, seen[p][i], "message %d/%d lost", p, i)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b", strings.Repeat("x", 300)} {
		_, err := queue.Create(name, 1024, shm.Dir(dir))
		require.ErrorIs(t, err, shm.ErrBadName, "name %q", name)
		_, err = queue.Open(name, shm.Dir(dir))
		require.ErrorIs(t, err, shm.ErrBadName, "name %q", name)
	}
	for _, c := range []int{-1, 0, 63} {
		_, err := queue.Create("small", c, shm.Dir(dir))
		require.ErrorIs(t, err, queue.ErrCapacity)
		_, err = queue.CreateAnon(c)
		require.ErrorIs(t, err, queue.ErrCapacity)
		_, _, err = queue.NewPipe("small", c, shm.Dir(dir))
		require.ErrorIs(t, err, queue.ErrCapacity)
	}
	_, err := queue.Open("missing", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)

	q, err := queue.Create("q", 100, shm.Dir(dir))
	require.NoError(t, err)
	defer q.Close()
	require.Equal(t, 104, q.Cap(), "capacity rounds up to a multiple of 8")
	_, err = queue.Create("q", 100, shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrExist)

	// Other kinds of segment.
	a, err := array.Create[uint8]("arr", 4096, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	_, err = queue.Open("arr", shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)
	require.Contains(t, err.Error(), "array")
	_, err = queue.OpenPipe("arr", 0, shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)

	c0, c1, err := queue.NewPipe("p", 1024, shm.Dir(dir))
	require.NoError(t, err)
	defer c0.Close()
	defer c1.Close()
	_, err = queue.Open("p", shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)
	require.Contains(t, err.Error(), "OpenPipe")
	_, err = queue.OpenPipe("q", 1, shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)
	_, err = queue.OpenPipe("p", 2, shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)

	// A queue-kind segment of the wrong element type or shape.
	for i, m := range []shm.Meta{
		{DType: shm.Uint32, Shape: []int{1024}, Kind: shm.KindQueue},
		{DType: shm.Uint8, Shape: []int{3, 1024}, Kind: shm.KindQueue},
		{DType: shm.Uint8, Shape: []int{100}, Kind: shm.KindQueue},
		{DType: shm.Uint8, Shape: []int{8}, Kind: shm.KindQueue},
		{DType: shm.Uint8, Shape: []int{1024}, Kind: shm.KindRaw},
	} {
		name := fmt.Sprintf("odd%d", i)
		seg, err := shm.Create(name, m, shm.Dir(dir))
		require.NoError(t, err)
		seg.Close()
		_, err = queue.Open(name, shm.Dir(dir))
		require.ErrorIs(t, err, queue.ErrNotQueue, "meta %+v", m)
	}
}

// TestCorrupt damages the ring's indices and a record header behind the
// queue's back: operations must fail with ErrCorrupt, never panic or hang.
func TestCorrupt(t *testing.T) {
	q, dir := newQueue(t, 256)
	ctx := context.Background()
	require.NoError(t, q.Put(ctx, []byte("good")))
	locks := q.Segment().Locks()
	tail := binary.LittleEndian.Uint64(locks[72:])
	require.Equal(t, uint64(16), tail, "tail is at offset 72 of the lock area")
	head := func() uint64 { return binary.LittleEndian.Uint64(locks[136:]) }

	// A record header that is not a committed header for its place, with
	// tail past it.
	data := q.Segment().Data()
	saved := binary.LittleEndian.Uint64(data)
	for _, bad := range []uint64{0xdeadbeef, 0, saved ^ 1<<40} {
		binary.LittleEndian.PutUint64(data, bad)
		_, err := q.Get(ctx)
		require.ErrorIs(t, err, queue.ErrCorrupt, "header %#x", bad)
		require.Contains(t, err.Error(), "bad record header")
	}
	// A header naming a record longer than the ring's largest.
	binary.LittleEndian.PutUint64(data, queue.Header(1000, 0))
	_, err := q.Get(ctx)
	require.ErrorIs(t, err, queue.ErrCorrupt)
	binary.LittleEndian.PutUint64(data, saved)

	// A tail beyond head + capacity, and a misaligned one, seen by fresh
	// handles (a handle trusts the indices it has already checked).
	for _, bad := range []uint64{1 << 40, 17} {
		binary.LittleEndian.PutUint64(locks[72:], bad)
		h, err := queue.Open("q", shm.Dir(dir))
		require.NoError(t, err)
		err = h.Put(ctx, []byte("x"))
		require.ErrorIs(t, err, queue.ErrCorrupt)
		require.NoError(t, h.Close())
	}
	binary.LittleEndian.PutUint64(locks[72:], tail)
	msg, err := q.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "good", string(msg))
	// Once the queue is empty, a consumer reads tail: past head with no
	// header there, it is damage.
	for _, bad := range []uint64{1 << 40, 24, 17} {
		binary.LittleEndian.PutUint64(locks[72:], bad)
		_, err = q.TryGet()
		require.ErrorIs(t, err, queue.ErrCorrupt, "tail %d", bad)
	}
	binary.LittleEndian.PutUint64(locks[72:], tail)
	_, err = q.TryGet()
	require.ErrorIs(t, err, queue.ErrEmpty)

	// A forged header that passes the check is a message: the consumer
	// cannot tell it from a real one without reading the producers' index on
	// every Get. It is delivered (whatever bytes follow it); the ring goes
	// on, without a fault or a hang.
	binary.LittleEndian.PutUint64(data[16:], queue.Header(100, 16))
	msg, err = q.Get(ctx)
	require.NoError(t, err)
	require.Len(t, msg, 100)
	require.Equal(t, uint64(16+8+104), head())
	for range 64 {
		if err := q.TryPut([]byte("x")); err != nil {
			require.ErrorIs(t, err, queue.ErrFull)
		}
		if _, err := q.TryGet(); err != nil {
			require.True(t, errors.Is(err, queue.ErrEmpty) || errors.Is(err, queue.ErrCorrupt), "%v", err)
		}
	}
}

func TestAnon(t *testing.T) {
	q, err := queue.CreateAnon(1024)
	require.NoError(t, err)
	defer q.Close()
	require.True(t, strings.HasPrefix(q.Path(), "/proc/"), q.Path())
	require.NoError(t, q.Unlink(), "Unlink of an anonymous queue does nothing")
	require.NoError(t, q.Put(context.Background(), []byte("anon")))
	msg, err := q.TryGet()
	require.NoError(t, err)
	require.Equal(t, "anon", string(msg))
}

func TestUnlink(t *testing.T) {
	q, dir := newQueue(t, 1024)
	require.NoError(t, q.Unlink())
	_, err := queue.Open("q", shm.Dir(dir))
	require.ErrorIs(t, err, shm.ErrNotExist)
	// The open handle keeps working.
	require.NoError(t, q.Put(context.Background(), []byte("x")))
	require.Equal(t, 1, q.Len())
}

// TestGobInProcess encodes a queue inside a struct, as the engine does with
// task arguments, and decodes it in the same process.
func TestGobInProcess(t *testing.T) {
	q, _ := newQueue(t, 1024)
	type args struct {
		Q *queue.Queue
		N int
	}
	b, err := gobBytes(args{Q: q, N: 7})
	require.NoError(t, err)
	var got args
	require.NoError(t, decodeGob(encodeB64(b), &got))
	require.Equal(t, 7, got.N)
	require.NoError(t, got.Q.Put(context.Background(), []byte("via gob")))
	msg, err := q.Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, "via gob", string(msg))
	require.NoError(t, got.Q.Close())
	require.NoError(t, q.Put(context.Background(), []byte("x")), "closing a decoded queue leaves the mapping")

	// A reference to an array is not a queue.
	a, err := array.CreateAnon[uint8](64)
	require.NoError(t, err)
	defer a.Close()
	ref, err := a.GobEncode()
	require.NoError(t, err)
	var q2 queue.Queue
	require.ErrorIs(t, q2.GobDecode(ref), queue.ErrNotQueue)
	require.Error(t, q2.GobDecode([]byte("garbage")))
	var c queue.Conn
	require.Error(t, c.GobDecode([]byte("0garbage")))
	qref, err := q.GobEncode()
	require.NoError(t, err)
	require.ErrorIs(t, c.GobDecode(append([]byte("0"), qref...)), queue.ErrNotQueue)

	closed, err := queue.CreateAnon(64)
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	_, err = closed.GobEncode()
	require.Error(t, err)
}

func TestConcurrentBytes(t *testing.T) {
	// Messages of random content survive intact through a ring that wraps
	// many times, one producer goroutine, one consumer.
	q, _ := newQueue(t, 1000)
	const n = 5000
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	go func() {
		for i := range n {
			if err := q.Put(ctx, crcMsg(i, 8+i%300)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var buf []byte
	for i := range n {
		msg, err := q.GetAppend(ctx, buf[:0])
		require.NoError(t, err)
		require.NoError(t, checkCRCMsg(msg))
		require.Equal(t, uint32(i), binary.LittleEndian.Uint32(msg[4:]))
		require.True(t, bytes.Equal(msg, crcMsg(i, 8+i%300)))
		buf = msg
	}
}

// TestCloseAfterDeadline closes a queue right after a Get ended at its
// deadline, many times: the wake-up that the deadline triggers must be over
// before Get returns, or it writes to the unmapped ring (a fault in another
// goroutine, which kills the process).
func TestCloseAfterDeadline(t *testing.T) {
	for range 2000 {
		q, err := queue.CreateAnon(64)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Microsecond)
		_, err = q.Get(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, q.Close())
		cancel()
	}
}
