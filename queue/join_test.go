package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// newJoinable creates a joinable queue in a fresh temporary directory and
// closes it when the test ends.
func newJoinable(t *testing.T, capacity int) (*queue.JoinableQueue, string) {
	t.Helper()
	dir := t.TempDir()
	j, err := queue.CreateJoinable("q", capacity, shm.Dir(dir))
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j, dir
}

func TestJoinable(t *testing.T) {
	j, _ := newJoinable(t, 1024)
	ctx := context.Background()
	require.NoError(t, j.Join(), "nothing put: Join returns at once")
	err := j.TaskDone()
	require.ErrorIs(t, err, queue.ErrTaskDone)
	require.EqualError(t, err, "mark a task done in queue q: task done more times than messages put (0 put, 0 done)")

	for _, m := range []string{"a", "b", "c"} {
		require.NoError(t, j.Put(ctx, []byte(m)))
	}
	require.Equal(t, 3, j.Unfinished())
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = j.JoinContext(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, queue.ErrPeerGone)

	for range 3 {
		_, err := j.Get(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, 3, j.Unfinished(), "taken is not done")
	require.NoError(t, j.TaskDone())
	require.NoError(t, j.TaskDone())
	require.Equal(t, 1, j.Unfinished())

	// A Join waiting (asleep) is woken by the last TaskDone.
	errc := make(chan error, 1)
	go func() { errc <- j.Join() }()
	waitAsleep(t, queue.JoinWord(j))
	require.NoError(t, j.TaskDone())
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(peerWait):
		t.Fatal("Join not woken by the last TaskDone")
	}
	require.Equal(t, 0, j.Unfinished())
	require.ErrorIs(t, j.TaskDone(), queue.ErrTaskDone, "more TaskDone than puts")
	require.Equal(t, 0, j.Unfinished())

	// Closing the handle wakes its Join.
	require.NoError(t, j.Put(ctx, []byte("d")))
	go func() { errc <- j.Join() }()
	waitAsleep(t, queue.JoinWord(j))
	require.NoError(t, j.Close())
	require.ErrorIs(t, <-errc, queue.ErrClosed)
}

func TestJoinableBadInput(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Create("plain", 1024, shm.Dir(dir))
	require.NoError(t, err)
	defer q.Close()
	_, err = queue.OpenJoinable("plain", shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)
	require.Contains(t, err.Error(), "not a joinable queue")

	j, err := queue.CreateJoinable("joinable", 1024, shm.Dir(dir))
	require.NoError(t, err)
	defer j.Close()
	// A plain handle of a joinable queue works, and its Gets count.
	p, err := queue.Open("joinable", shm.Dir(dir))
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, j.Put(context.Background(), []byte("x")))
	_, err = p.Get(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, j.Unfinished())
	require.NoError(t, j.TaskDone())
	require.NoError(t, j.Join())
	_, err = queue.OpenPipe("joinable", 0, shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrNotQueue)

	_, err = queue.CreateJoinable("small", 8, shm.Dir(dir))
	require.ErrorIs(t, err, queue.ErrCapacity)
	_, err = queue.CreateJoinableAnon(-1)
	require.ErrorIs(t, err, queue.ErrCapacity)

	// Gob: a reference to a plain queue is not a joinable queue.
	ref, err := q.GobEncode()
	require.NoError(t, err)
	var jj queue.JoinableQueue
	require.ErrorIs(t, jj.GobDecode(ref), queue.ErrNotQueue)
}

// TestJoinCrossProcess: a consumer process takes and marks done the tasks
// this process puts; this process's Join, asleep before the last TaskDone,
// returns once it comes. The consumer gets the queue by gob.
func TestJoinCrossProcess(t *testing.T) {
	j, err := queue.CreateJoinableAnon(4096)
	require.NoError(t, err)
	defer j.Close()
	ctx := context.Background()
	const n = 20
	for i := range n {
		require.NoError(t, j.Put(ctx, fmt.Appendf(nil, "task %d", i)))
	}
	p := startChild(t, "jwork", "GOB="+encodeGob(t, struct{ J *queue.JoinableQueue }{j}), fmt.Sprint("N=", n), "GATE=1")
	for i := range n {
		p.Expect(t, fmt.Sprintf("took task %d", i))
	}
	errc := make(chan error, 1)
	go func() { errc <- j.Join() }()
	waitAsleep(t, queue.JoinWord(j))
	require.Equal(t, 1, j.Unfinished())
	select {
	case err := <-errc:
		t.Fatalf("Join returned %v with a task not done", err)
	default:
	}
	require.NoError(t, p.CloseStdin())
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(peerWait):
		t.Fatal("Join not woken by the last TaskDone in another process")
	}
	p.Expect(t, "all done")
	p.WaitOK(t)
}

// TestJoinWaiterInOtherProcess: another process joins, asleep, while this
// one takes and marks done the last task.
func TestJoinWaiterInOtherProcess(t *testing.T) {
	j, dir := newJoinable(t, 1024)
	ctx := context.Background()
	require.NoError(t, j.Put(ctx, []byte("only")))
	p := startChild(t, "jjoin", "DIR="+dir, "NAME=q")
	p.Expect(t, "ready")
	waitChildAsleep(t, p, &j.Queue, queue.JoinWord(j))
	msg, err := j.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "only", string(msg))
	require.NoError(t, j.TaskDone())
	p.Expect(t, "joined")
	p.WaitOK(t)
}

// TestJoinConsumerKilled: a consumer that took a task and is killed before
// marking it done makes Join return ErrPeerGone, whether Join starts after
// the death or sleeps through it; the other tasks are unaffected, and a
// task that is still in the queue keeps Join waiting.
func TestJoinConsumerKilled(t *testing.T) {
	for _, asleep := range []bool{false, true} {
		t.Run(fmt.Sprint("asleep=", asleep), func(t *testing.T) {
			j, dir := newJoinable(t, 1024)
			ctx := context.Background()
			require.NoError(t, j.Put(ctx, []byte("t1")))
			c := startChild(t, "jtake", "DIR="+dir, "NAME=q")
			c.Expect(t, "took t1")
			require.NoError(t, j.Put(ctx, []byte("t2")))
			msg, err := j.Get(ctx)
			require.NoError(t, err)
			require.Equal(t, "t2", string(msg))
			require.NoError(t, j.TaskDone())
			require.Equal(t, 1, j.Unfinished())

			jctx, cancel := context.WithTimeout(ctx, peerWait)
			defer cancel()
			if !asleep {
				kill(t, c)
				err := j.JoinContext(jctx)
				require.ErrorIs(t, err, queue.ErrPeerGone)
				require.NotErrorIs(t, err, context.DeadlineExceeded)
				require.EqualError(t, err, "join queue q: peer gone: 1 tasks were taken by processes that died before marking them done")
				return
			}
			done := testproc.WhenAsleep(1, os.Getpid(), uintptr(unsafe.Pointer(queue.JoinWord(j))), func() { _ = c.Kill() })
			err = j.JoinContext(jctx)
			require.NoError(t, done())
			require.ErrorIs(t, err, queue.ErrPeerGone)
			require.NotErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

// TestJoinConsumerAliveKeepsWaiting: a live consumer holding a task keeps
// Join waiting through several liveness checks (no false ErrPeerGone).
func TestJoinConsumerAliveKeepsWaiting(t *testing.T) {
	j, dir := newJoinable(t, 1024)
	ctx := context.Background()
	require.NoError(t, j.Put(ctx, []byte("t1")))
	c := startChild(t, "jtake", "DIR="+dir, "NAME=q")
	c.Expect(t, "took t1")
	checks := countHook(t)
	jctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- j.JoinContext(jctx) }()
	testproc.WaitFor(t, "two liveness checks", func() bool { return checks.Load() >= 2 })
	cancel()
	err := <-errc
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, queue.ErrPeerGone)
	kill(t, c)
}

// TestJoinKilledInGet kills a consumer at each step of a Get of a joinable
// queue: before it committed, the task stays in the queue (this process
// takes it, marks it done, and Join returns); after, the task went with the
// dead process and Join reports it, also when the consumer died before its
// Get counted the task as its own.
func TestJoinKilledInGet(t *testing.T) {
	for _, tc := range []struct {
		point string
		lost  bool
	}{
		{"get:copied", false},
		{"get:committed", true},
		{"get:counted", true},
	} {
		t.Run(tc.point, func(t *testing.T) {
			j, dir := newJoinable(t, 1024)
			ctx, cancel := context.WithTimeout(context.Background(), peerWait)
			defer cancel()
			require.NoError(t, j.Put(ctx, []byte("t1")))
			p := startChild(t, "hook", "DIR="+dir, "NAME=q", "POINT="+tc.point, "OP=get")
			p.Expect(t, "hooked")
			kill(t, p)
			if !tc.lost {
				msg, err := j.Get(ctx)
				require.NoError(t, err)
				require.Equal(t, "t1", string(msg))
				require.NoError(t, j.TaskDone())
				require.NoError(t, j.JoinContext(ctx))
				return
			}
			require.Equal(t, 0, j.Len())
			err := j.JoinContext(ctx)
			require.ErrorIs(t, err, queue.ErrPeerGone)
			require.Contains(t, err.Error(), "1 tasks")
			// The survivors may make up for it.
			require.NoError(t, j.TaskDone())
			require.NoError(t, j.JoinContext(ctx))
		})
	}
}

// TestJoinManyConsumers: three consumer processes share 300 tasks, put
// through a small ring (so they are taken while more are put); Join returns
// once all are done.
func TestJoinManyConsumers(t *testing.T) {
	j, dir := newJoinable(t, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	var ps []*testproc.Child
	for range 3 {
		ps = append(ps, startChild(t, "jwork", "DIR="+dir, "NAME=q", "N=100"))
	}
	for i := range 300 {
		require.NoError(t, j.Put(ctx, fmt.Appendf(nil, "%d", i)))
	}
	require.NoError(t, j.JoinContext(ctx))
	require.Equal(t, 0, j.Unfinished())
	for _, p := range ps {
		p.WaitOK(t)
	}
	_, err := j.TryGet()
	require.True(t, errors.Is(err, queue.ErrEmpty))
}
