package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/shmpar/shmpar/queue"
	"github.com/shmpar/shmpar/shm"
)

// A producer puts messages, closes the queue for writing, and a consumer
// (in this example the same process; usually another one that called
// queue.Open) takes them until ErrClosed.
func Example() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)

	q, err := queue.Create("jobs", 64<<10, shm.Dir(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	ctx := context.Background()

	for _, job := range []string{"resize a.png", "resize b.png", "resize c.png"} {
		if err := q.Put(ctx, []byte(job)); err != nil {
			fmt.Println(err)
			return
		}
	}
	q.CloseWrite() // no more jobs: consumers drain, then get ErrClosed

	for {
		msg, err := q.Get(ctx)
		if errors.Is(err, queue.ErrClosed) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(msg))
	}
	// Output:
	// resize a.png
	// resize b.png
	// resize c.png
}

// Typed carries Go values, encoded with encoding/gob by default.
func ExampleNewTyped() {
	q, err := queue.CreateAnon(4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	type point struct{ X, Y int }
	points := queue.NewTyped[point](q, nil)
	ctx := context.Background()

	points.Put(ctx, point{1, 2})
	p, err := points.Get(ctx)
	fmt.Println(p, err)

	// A value the codec cannot encode is refused at Put.
	funcs := queue.NewTyped[func()](q, nil)
	err = funcs.Put(ctx, func() {})
	fmt.Println(errors.Is(err, queue.ErrCodec), q.Len())
	// Output:
	// {1 2} <nil>
	// true 0
}

// A message larger than the ring can ever hold is refused, with both sizes.
func ExampleQueue_Put_tooLarge() {
	q, err := queue.CreateAnon(64)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	err = q.Put(context.Background(), make([]byte, 100))
	fmt.Println(errors.Is(err, queue.ErrTooLarge))
	fmt.Println(q.MaxMessage())
	// Output:
	// true
	// 56
}

// TryGet does not wait; Get with a deadline waits at most until it.
func ExampleQueue_TryGet() {
	q, err := queue.CreateAnon(1024)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	_, err = q.TryGet()
	fmt.Println(errors.Is(err, queue.ErrEmpty))

	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	_, err = q.Get(ctx)
	fmt.Println(errors.Is(err, queue.ErrEmpty), errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true
	// true true
}

// A pipe is two connected ends. Usually one end is handed to another
// process (gob-encoded in a task's arguments, or opened with OpenPipe).
func ExampleNewPipe() {
	parent, child, err := queue.NewPipeAnon(4096)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer parent.Close()
	defer child.Close()
	ctx := context.Background()

	parent.Send(ctx, []byte("ping"))
	msg, _ := child.Recv(ctx)
	child.Send(ctx, append(msg, " pong"...))
	msg, _ = parent.Recv(ctx)
	fmt.Println(string(msg))

	parent.CloseWrite() // the child's Recv now returns ErrClosed
	_, err = child.Recv(ctx)
	fmt.Println(errors.Is(err, queue.ErrClosed))
	// Output:
	// ping pong
	// true
}

// A JoinableQueue's Join waits until every task put was marked done with
// TaskDone. Usually the workers are other processes (they open the queue
// with OpenJoinable, or receive it in their arguments); here a goroutine.
func ExampleJoinableQueue() {
	jobs, err := queue.CreateJoinableAnon(64 << 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer jobs.Close()
	ctx := context.Background()
	for _, job := range []string{"a.png", "b.png", "c.png"} {
		jobs.Put(ctx, []byte(job))
	}

	results := make(chan string, 3)
	go func() {
		for {
			job, err := jobs.Get(ctx)
			if err != nil {
				return // ErrClosed once the queue is closed and drained
			}
			results <- "resized " + string(job)
			jobs.TaskDone() // after the work, not before
		}
	}()

	if err := jobs.Join(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("all done:", jobs.Unfinished() == 0, len(results))
	jobs.CloseWrite()

	// One TaskDone too many is an error, as in Python.
	err = jobs.TaskDone()
	fmt.Println(errors.Is(err, queue.ErrTaskDone))
	// Output:
	// all done: true 3
	// true
}
