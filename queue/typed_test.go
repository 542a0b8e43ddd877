package queue_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/queue"
)

func TestTyped(t *testing.T) {
	q, _ := newQueue(t, 4096)
	tq := queue.NewTyped[item](q, nil)
	require.Same(t, q, tq.Queue())
	ctx := context.Background()
	require.NoError(t, tq.Put(ctx, item{"a", 1}))
	require.NoError(t, tq.TryPut(item{"b", 2}))
	require.Equal(t, 2, tq.Len())
	it, err := tq.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, item{"a", 1}, it)
	it, err = tq.TryGet()
	require.NoError(t, err)
	require.Equal(t, item{"b", 2}, it)
	_, err = tq.TryGet()
	require.ErrorIs(t, err, queue.ErrEmpty)

	// A value gob cannot encode is an error at Put; nothing is stored.
	type bad struct{ C chan int }
	bq := queue.NewTyped[bad](q, nil)
	err = bq.Put(ctx, bad{C: make(chan int)})
	require.ErrorIs(t, err, queue.ErrCodec)
	require.ErrorIs(t, bq.TryPut(bad{}), queue.ErrCodec)
	fq := queue.NewTyped[func()](q, nil)
	require.ErrorIs(t, fq.Put(ctx, func() {}), queue.ErrCodec)
	require.Equal(t, 0, q.Len())

	// A value too large for the ring is ErrTooLarge, after encoding.
	sq := queue.NewTyped[[]byte](q, nil)
	require.ErrorIs(t, sq.Put(ctx, make([]byte, 5000)), queue.ErrTooLarge)

	// A message that does not decode is consumed and reported.
	require.NoError(t, q.Put(ctx, []byte("not gob")))
	_, err = tq.Get(ctx)
	require.ErrorIs(t, err, queue.ErrCodec)
	require.Equal(t, 0, q.Len())

	// Close semantics pass through.
	require.NoError(t, tq.Put(ctx, item{"c", 3}))
	require.NoError(t, tq.CloseWrite())
	require.ErrorIs(t, tq.Put(ctx, item{"d", 4}), queue.ErrClosed)
	it, err = tq.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "c", it.Name)
	_, err = tq.Get(ctx)
	require.ErrorIs(t, err, queue.ErrClosed)
}

func TestTypedJSON(t *testing.T) {
	q, _ := newQueue(t, 4096)
	tq := queue.NewTyped[map[string]int](q, queue.JSONCodec{})
	require.NoError(t, tq.Put(context.Background(), map[string]int{"x": 1}))
	raw, err := q.TryGet()
	require.NoError(t, err)
	require.Equal(t, `{"x":1}`, string(raw))
	require.NoError(t, tq.Put(context.Background(), map[string]int{"y": 2}))
	v, err := tq.Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[string]int{"y": 2}, v)
	cq := queue.NewTyped[chan int](q, queue.JSONCodec{})
	require.ErrorIs(t, cq.Put(context.Background(), make(chan int)), queue.ErrCodec)
}

// TestTypedCrossProcess passes a typed queue to another process by gob.
func TestTypedCrossProcess(t *testing.T) {
	q, err := queue.CreateAnon(4096)
	require.NoError(t, err)
	defer q.Close()
	tq := queue.NewTyped[item](q, nil)
	p := startChild(t, "typedget", "GOB="+encodeGob(t, struct{ T *queue.Typed[item] }{tq}))
	require.NoError(t, tq.Put(context.Background(), item{"x", 1}))
	require.NoError(t, tq.Put(context.Background(), item{"y", 2}))
	require.NoError(t, tq.CloseWrite())
	require.Equal(t, "x=1\ny=2\n", p.WaitOK(t))
}

func TestTypedConn(t *testing.T) {
	a, b, err := queue.NewPipeAnon(4096)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	ta, tb := queue.NewTypedConn[item](a, nil), queue.NewTypedConn[item](b, nil)
	require.Same(t, a, ta.Conn())
	ctx := context.Background()
	require.NoError(t, ta.Send(ctx, item{"q", 42}))
	it, err := tb.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, item{"q", 42}, it)

	fa := queue.NewTypedConn[func()](a, nil)
	require.ErrorIs(t, fa.Send(ctx, func() {}), queue.ErrCodec)
	require.Equal(t, 0, b.Buffered())

	require.NoError(t, a.Send(ctx, []byte("not gob")))
	_, err = tb.Recv(ctx)
	require.ErrorIs(t, err, queue.ErrCodec)

	// Across gob, as a task argument.
	var got struct{ C *queue.TypedConn[item] }
	require.NoError(t, decodeGob(encodeGob(t, struct{ C *queue.TypedConn[item] }{tb}), &got))
	require.NoError(t, ta.Send(ctx, item{"via gob", 1}))
	it, err = got.C.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, "via gob", it.Name)

	require.NoError(t, ta.CloseWrite())
	_, err = tb.Recv(ctx)
	require.ErrorIs(t, err, queue.ErrClosed)
	require.NoError(t, tb.Close())
}
