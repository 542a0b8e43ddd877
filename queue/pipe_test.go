package queue_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

func TestPipe(t *testing.T) {
	dir := t.TempDir()
	a, b, err := queue.NewPipe("p", 1024, shm.Dir(dir))
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	require.Equal(t, 0, a.End())
	require.Equal(t, 1, b.End())
	ctx := context.Background()

	require.NoError(t, a.Send(ctx, []byte("ping")))
	require.Equal(t, 1, b.Buffered())
	require.Equal(t, 0, a.Buffered())
	msg, err := b.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "ping", string(msg))
	require.NoError(t, b.Send(ctx, []byte("pong")))
	msg, err = a.RecvAppend(ctx, []byte("got "))
	require.NoError(t, err)
	require.Equal(t, "got pong", string(msg))
	_, err = a.TryRecv()
	require.ErrorIs(t, err, queue.ErrEmpty)

	// A third handle, opened by name, is end 1 too.
	b2, err := queue.OpenPipe("p", 1, shm.Dir(dir))
	require.NoError(t, err)
	require.NoError(t, a.TrySend([]byte("to end 1")))
	msg, err = b2.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "to end 1", string(msg))
	require.NoError(t, b2.Close())

	// Too large, and full.
	require.ErrorIs(t, a.Send(ctx, make([]byte, 1024)), queue.ErrTooLarge)
	for a.TrySend(make([]byte, 100)) == nil {
	}
	require.ErrorIs(t, a.TrySend(make([]byte, 100)), queue.ErrFull)
	for {
		if _, err := b.TryRecv(); err != nil {
			require.ErrorIs(t, err, queue.ErrEmpty)
			break
		}
	}

	// Half-close: a's direction closes, b's stays open.
	require.NoError(t, a.Send(ctx, []byte("last")))
	require.NoError(t, a.CloseWrite())
	require.ErrorIs(t, a.Send(ctx, []byte("more")), queue.ErrClosed)
	msg, err = b.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "last", string(msg))
	_, err = b.Recv(ctx)
	require.ErrorIs(t, err, queue.ErrClosed)
	require.NoError(t, b.Send(ctx, []byte("reply")))
	msg, err = a.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "reply", string(msg))

	// Closing one end's handle leaves the other working.
	require.NoError(t, b.Close())
	require.ErrorIs(t, b.Send(ctx, nil), queue.ErrClosed)
	require.NoError(t, a.Unlink())
	_, err = a.TryRecv()
	require.ErrorIs(t, err, queue.ErrEmpty)
}

// TestPipeCrossProcess passes end 1 of an anonymous pipe to an echo process
// through gob, closes the parent's copy of that end at once, and talks to
// the child through end 0.
func TestPipeCrossProcess(t *testing.T) {
	a, b, err := queue.NewPipeAnon(4096)
	require.NoError(t, err)
	defer a.Close()
	p := startChild(t, "echo", "GOB="+encodeGob(t, struct{ C *queue.Conn }{b}))
	require.NoError(t, b.Close(), "the parent's copy of the child's end")

	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	var buf []byte
	for i := range 500 {
		want := crcMsg(i, 8+i*7%2000)
		require.NoError(t, a.Send(ctx, want))
		got, err := a.RecvAppend(ctx, buf[:0])
		require.NoError(t, err)
		require.Equal(t, want, got)
		buf = got
	}
	require.NoError(t, a.CloseWrite())
	_, err = a.Recv(ctx)
	require.ErrorIs(t, err, queue.ErrClosed, "the child closes its direction when ours closes")
	p.WaitOK(t)
}

// TestPipeWindowed keeps several messages in flight each way.
func TestPipeWindowed(t *testing.T) {
	a, b, err := queue.NewPipeAnon(256)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	const n = 2000
	errc := make(chan error, 1)
	go func() {
		for {
			msg, err := b.Recv(ctx)
			if errors.Is(err, queue.ErrClosed) {
				errc <- b.CloseWrite()
				return
			}
			if err != nil {
				errc <- err
				return
			}
			if err := b.Send(ctx, append(msg, '!')); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		for i := range n {
			if err := a.Send(ctx, fmt.Appendf(nil, "%d", i)); err != nil {
				t.Error(err)
				return
			}
		}
		_ = a.CloseWrite()
	}()
	for i := range n {
		msg, err := a.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%d!", i), string(msg))
	}
	_, err = a.Recv(ctx)
	require.ErrorIs(t, err, queue.ErrClosed)
	require.NoError(t, <-errc)
}
