package queue_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// peerWait bounds a Get that must end with ErrPeerGone: far more than the
// 100 ms in which a sleeping reader notices a death.
const peerWait = 20 * time.Second

// requireGone gets from q and requires ErrPeerGone (not the deadline).
func requireGone(t *testing.T, q *queue.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	msg, err := q.Get(ctx)
	require.ErrorIs(t, err, queue.ErrPeerGone, "got %q", msg)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
}

func getString(t *testing.T, q *queue.Queue) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	msg, err := q.Get(ctx)
	require.NoError(t, err)
	return string(msg)
}

// countHook counts, in this process, the full liveness checks that found a
// writer alive, until the test ends.
func countHook(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	queue.SetTestHook(func(p string) {
		if p == "wait:alive" {
			n.Add(1)
		}
	})
	t.Cleanup(func() { queue.SetTestHook(nil) })
	return &n
}

// TestPeerGoneBeforePut: a writer that opened the queue and exited or was
// killed before it put anything ends a reader's Get with ErrPeerGone.
func TestPeerGoneBeforePut(t *testing.T) {
	for _, how := range []string{"killed", "exited"} {
		t.Run(how, func(t *testing.T) {
			q, dir := newQueue(t, 1024)
			env := []string{"DIR=" + dir, "NAME=q"}
			if how == "exited" {
				env = append(env, "EXIT=1")
			}
			p := startChild(t, "hold", env...)
			p.Expect(t, "ready")
			if how == "killed" {
				kill(t, p)
			} else {
				p.WaitOK(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), peerWait)
			defer cancel()
			_, err := q.Get(ctx)
			require.EqualError(t, err, "get from queue q: peer gone: every writer exited or closed its handle without CloseWrite")
			require.ErrorIs(t, err, queue.ErrPeerGone)
			require.Equal(t, 0, q.Len())
		})
	}
}

// TestPeerGoneAfterPuts: every message a writer put before it exited (or
// was killed) is received, in order, and only then ErrPeerGone.
func TestPeerGoneAfterPuts(t *testing.T) {
	for _, how := range []string{"killed", "exited"} {
		t.Run(how, func(t *testing.T) {
			q, dir := newQueue(t, 1024)
			env := []string{"DIR=" + dir, "NAME=q", "MSGS=m1 m2 m3"}
			if how == "exited" {
				env = append(env, "EXIT=1")
			}
			p := startChild(t, "hold", env...)
			p.Expect(t, "ready")
			if how == "killed" {
				kill(t, p)
			} else {
				p.WaitOK(t)
			}
			for _, want := range []string{"m1", "m2", "m3"} {
				require.Equal(t, want, getString(t, q))
			}
			requireGone(t, q)
		})
	}
}

// TestPeerGoneMidStream kills a producer that puts messages of varied sizes
// in a loop while this process consumes them: every message published
// before the kill comes out whole, in order, without a gap, then
// ErrPeerGone.
func TestPeerGoneMidStream(t *testing.T) {
	q, dir := newQueue(t, 16<<10)
	p := startChild(t, "putloop", "DIR="+dir, "NAME=q")
	p.Expect(t, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	want := 0
	var buf []byte
	for {
		if want == 300 {
			kill(t, p)
		}
		msg, err := q.GetAppend(ctx, buf[:0])
		if errors.Is(err, queue.ErrPeerGone) {
			break
		}
		require.NoError(t, err)
		require.NoError(t, checkCRCMsg(msg))
		require.Equal(t, uint32(want), binary.LittleEndian.Uint32(msg[4:]), "a message lost or out of order")
		want++
		buf = msg
	}
	require.GreaterOrEqual(t, want, 300)
	require.Equal(t, 0, q.Len())
	t.Logf("%d messages before ErrPeerGone", want)
}

// TestPeerGoneWhileAsleep kills the only writer while a reader sleeps on
// the queue's futex word, in another process and in this one: the sleeper
// notices within its sleep slice.
func TestPeerGoneWhileAsleep(t *testing.T) {
	t.Run("reader process", func(t *testing.T) {
		q, dir := newQueue(t, 1024)
		w := startChild(t, "hold", "DIR="+dir, "NAME=q")
		w.Expect(t, "ready")
		_, err := q.TryGet() // this process reads: its handle is no writer
		require.ErrorIs(t, err, queue.ErrEmpty)
		r := startChild(t, "getone", "DIR="+dir, "NAME=q")
		r.Expect(t, "ready")
		waitChildAsleep(t, r, q, queue.NotEmptyWord(q))
		kill(t, w)
		r.Expect(t, "peer gone")
		r.WaitOK(t)
	})
	t.Run("reader goroutine", func(t *testing.T) {
		q, dir := newQueue(t, 1024)
		w := startChild(t, "hold", "DIR="+dir, "NAME=q")
		w.Expect(t, "ready")
		done := testproc.WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(queue.NotEmptyWord(q))), func() { _ = w.Kill() })
		requireGone(t, q)
		require.NoError(t, done())
	})
}

// TestPeerGoneHandleClosed: a writer that closes its handle without
// CloseWrite, and stays alive, is gone as a writer.
func TestPeerGoneHandleClosed(t *testing.T) {
	q, dir := newQueue(t, 1024)
	w := startChild(t, "hold", "DIR="+dir, "NAME=q", "MSGS=last")
	w.Expect(t, "ready")
	require.Equal(t, "last", getString(t, q))
	done := testproc.WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(queue.NotEmptyWord(q))), func() { _ = w.CloseStdin() })
	requireGone(t, q)
	require.NoError(t, done())
	w.Expect(t, "handle closed")
	require.False(t, w.Exited(), "the writer is alive: its Close, not its death, ended the stream")
}

// TestPeerAliveKeepsWaiting: while one of two writers lives, a reader keeps
// waiting, though it has checked the writers' liveness several times; once
// the second dies too, it gets ErrPeerGone.
func TestPeerAliveKeepsWaiting(t *testing.T) {
	q, dir := newQueue(t, 1024)
	w1 := startChild(t, "hold", "DIR="+dir, "NAME=q")
	w2 := startChild(t, "hold", "DIR="+dir, "NAME=q")
	w1.Expect(t, "ready")
	w2.Expect(t, "ready")
	kill(t, w1)
	getWaitsThroughChecks(t, q, "two liveness checks that find w2 alive")
	kill(t, w2)
	requireGone(t, q)
}

// TestPeerGoneConsumers: consumers do not count as writers (their handle's
// first use is a Get), so when the only producer dies every consumer gets
// ErrPeerGone, after the messages are shared out.
func TestPeerGoneConsumers(t *testing.T) {
	q, dir := newQueue(t, 1024)
	_, err := q.TryGet() // this process reads too
	require.ErrorIs(t, err, queue.ErrEmpty)
	var cs []*testproc.Child
	for range 2 {
		c := startChild(t, "getall", "DIR="+dir, "NAME=q")
		c.Expect(t, "ready")
		cs = append(cs, c)
	}
	for _, c := range cs {
		waitChildAsleep(t, c, q, queue.NotEmptyWord(q))
	}
	w := startChild(t, "hold", "DIR="+dir, "NAME=q", "MSGS=a b c d")
	w.Expect(t, "ready")
	kill(t, w)
	got := 0
	for _, c := range cs {
		for {
			line := c.Line(t)
			if line == "peer gone" {
				break
			}
			require.Regexp(t, `^got [abcd]$`, line)
			got++
		}
		c.WaitOK(t)
	}
	require.Equal(t, 4, got)
}

// TestPeerGoneRevived: ErrPeerGone is a state, not an end: a writer that
// comes later is read as usual.
func TestPeerGoneRevived(t *testing.T) {
	q, dir := newQueue(t, 1024)
	p := startChild(t, "hold", "DIR="+dir, "NAME=q", "EXIT=1")
	p.Expect(t, "ready")
	p.WaitOK(t)
	requireGone(t, q)
	p = startChild(t, "hold", "DIR="+dir, "NAME=q", "EXIT=1", "MSGS=again")
	p.WaitOK(t)
	require.Equal(t, "again", getString(t, q))
	requireGone(t, q)
	// CloseWrite still says ErrClosed, not ErrPeerGone.
	require.NoError(t, q.CloseWrite())
	_, err := q.Get(context.Background())
	require.ErrorIs(t, err, queue.ErrClosed)
}

// TestPeerNeverStarted: with no process but this one ever attached as a
// writer, Get waits (the producers may not have started yet): it does not
// report ErrPeerGone, though it checks.
func TestPeerNeverStarted(t *testing.T) {
	q, _ := newQueue(t, 1024)
	getWaitsThroughChecks(t, q, "two liveness checks")
}

// ---- pipes ----

// TestPipePeerGone: the process holding the other end exits (having sent
// nothing, or some messages) or is killed; Recv gets what was sent, then
// ErrPeerGone.
func TestPipePeerGone(t *testing.T) {
	for _, tc := range []struct{ name, msgs, exit string }{
		{"exited before sending", "", "1"},
		{"exited after sending", "x y", "1"},
		{"killed after sending", "x y", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, err := queue.NewPipeAnon(1024)
			require.NoError(t, err)
			defer a.Close()
			env := []string{"GOB=" + encodeGob(t, struct{ C *queue.Conn }{b}), "MSGS=" + tc.msgs}
			if tc.exit != "" {
				env = append(env, "EXIT=1")
			}
			p := startChild(t, "pipe-hold", env...)
			require.NoError(t, b.Close(), "the parent's copy of the child's end")
			p.Expect(t, "ready")
			if tc.exit == "" {
				kill(t, p)
			} else {
				p.WaitOK(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), peerWait)
			defer cancel()
			var got []string
			for {
				msg, err := a.Recv(ctx)
				if errors.Is(err, queue.ErrPeerGone) {
					require.EqualError(t, err, "receive on anonymous pipe end 0: peer gone: every writer exited or closed its handle without CloseWrite")
					break
				}
				require.NoError(t, err)
				got = append(got, string(msg))
			}
			want := []string(nil)
			if tc.msgs != "" {
				want = []string{"x", "y"}
			}
			require.Equal(t, want, got)
		})
	}
}

// TestPipeSendPeerGone: a Send waiting for room on a full direction whose
// receiver was killed returns ErrPeerGone.
func TestPipeSendPeerGone(t *testing.T) {
	a, b, err := queue.NewPipeAnon(64)
	require.NoError(t, err)
	defer a.Close()
	p := startChild(t, "pipe-hold", "GOB="+encodeGob(t, struct{ C *queue.Conn }{b}))
	require.NoError(t, b.Close())
	p.Expect(t, "ready")
	for a.TrySend([]byte("fill")) == nil {
	}
	done := testproc.WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(queue.SendWord(a))), func() { _ = p.Kill() })
	ctx, cancel := context.WithTimeout(context.Background(), peerWait)
	defer cancel()
	err = a.Send(ctx, []byte("more"))
	require.EqualError(t, err, "send on anonymous pipe end 0: peer gone: every holder of the other end exited or closed it")
	require.NoError(t, done())
}

// TestPipeHandedOver: a process creates a named pipe, sends on end 0, hands
// both ends to two other processes and closes its copies. The receiver of
// end 1 must not take the creator's closing for the end of the stream before
// the sender of end 0 has attached (the creator's hand-over pins end 0), and
// must get ErrPeerGone once that sender is killed.
func TestPipeHandedOver(t *testing.T) {
	dir := t.TempDir()
	a, b, err := queue.NewPipe("p", 1024, shm.Dir(dir))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, a.Send(ctx, []byte("from-creator")))
	gobA := encodeGob(t, struct{ C *queue.Conn }{a})
	gobB := encodeGob(t, struct{ C *queue.Conn }{b})
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	seg, err := shm.Open("p", shm.Dir(dir)) // to find the futex word; holds no end
	require.NoError(t, err)
	defer seg.Close()

	r := startChild(t, "pipe-recv", "GOB="+gobB)
	r.Expect(t, "ready")
	r.Expect(t, "got from-creator")
	r.Expect(t, "checked alive") // a full check, and end 0 still counts (pinned)
	s := startChild(t, "pipe-hold", "GOB="+gobA, "MSGS=from-sender")
	s.Expect(t, "ready")
	r.Expect(t, "got from-sender")

	path := filepath.Join(dir, "p")
	self, err := testproc.MappedAt(os.Getpid(), path)
	require.NoError(t, err)
	var base uintptr
	testproc.WaitFor(t, "the receiver to map the pipe", func() bool {
		base, err = testproc.MappedAt(r.PID(), path)
		return err == nil
	})
	w := uintptr(unsafe.Pointer(queue.RingWord(seg.Locks(), 0, false)))
	testproc.WaitAsleep(t, 1, r.PID(), base+(w-self))
	kill(t, s)
	r.Expect(t, "peer gone")
	r.WaitOK(t)
}

// getWaitsThroughChecks runs a Get on the empty queue q and requires it to
// go on waiting through two liveness checks of its writers (what), not to
// report ErrPeerGone: it ends only when its context is canceled.
func getWaitsThroughChecks(t *testing.T, q *queue.Queue, what string) {
	t.Helper()
	checks := countHook(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := q.Get(ctx)
		errc <- err
	}()
	testproc.WaitFor(t, what, func() bool { return checks.Load() >= 2 })
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, queue.ErrPeerGone)
}
