package queue_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// TestErrorTexts pins what the errors say: the operation and the queue or
// pipe end once (an anonymous one as such), then the sentinel's text, never
// the package name.
func TestErrorTexts(t *testing.T) {
	dir := t.TempDir()
	var texts []string
	check := func(err error, want string) {
		t.Helper()
		require.EqualError(t, err, want)
		texts = append(texts, err.Error())
	}

	q, err := queue.Create("jobs", 64, shm.Dir(dir))
	require.NoError(t, err)
	defer q.Close()
	for range 4 {
		require.NoError(t, q.TryPut([]byte{1}))
	}
	check(q.TryPut([]byte{2}), "put to queue jobs: queue full")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	check(q.Put(ctx, []byte{2}), "put to queue jobs: queue full: context deadline exceeded")
	check(q.Put(ctx, make([]byte, 100)), "put to queue jobs: message too large for the queue: a message of 100 bytes needs 112 bytes of ring, but the ring has 64 (largest message 56 bytes)")

	a, b, err := queue.NewPipeAnon(64)
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()
	_, err = b.TryRecv()
	check(err, "receive on anonymous pipe end 1: queue empty")
	require.NoError(t, b.Close())
	check(b.Send(ctx, nil), "send on anonymous pipe end 1: queue closed: use of a closed handle")

	p0, p1, err := queue.NewPipe("duplex", 64, shm.Dir(dir))
	require.NoError(t, err)
	defer p0.Close()
	defer p1.Close()
	require.NoError(t, p0.CloseWrite())
	_, err = p1.TryRecv()
	check(err, "receive on pipe duplex end 1: queue closed")
	_, err = queue.Open("duplex", shm.Dir(dir))
	check(err, "open queue duplex: segment is not a queue: "+filepath.Join(dir, "duplex")+" is a pipe (shape [2 64]), not a queue; use OpenPipe")
	_, err = queue.OpenPipe("duplex", 2, shm.Dir(dir))
	check(err, "open pipe duplex: segment is not a queue: end 2 (want 0 or 1)")
	_, err = queue.Create("small", 8, shm.Dir(dir))
	check(err, "create queue small: invalid queue capacity: 8 bytes; the smallest ring is 64 bytes")

	typed := queue.NewTyped[chan int](q, nil)
	err = typed.Put(ctx, make(chan int))
	require.ErrorIs(t, err, queue.ErrCodec)
	require.ErrorContains(t, err, "put to queue jobs: queue codec error: encode chan int: gob") // then gob's own words
	texts = append(texts, err.Error())

	for _, text := range texts {
		require.NotRegexp(t, `(^|: )(queue|shm|lock): `, text, "a package prefix")
		require.NotContains(t, text, "pipe pipe", "a label read as a name in %q", text)
	}
}
