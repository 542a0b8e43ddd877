package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Stop codes in the shared stop word of a job: why participants stop
// claiming chunks.
const (
	stopNone     uint32 = iota
	stopFailed          // a chunk failed (first error wins)
	stopCanceled        // the coordinator's ctx was canceled
	stopDeadline        // the coordinator's ctx deadline passed
)

func stopErr(code uint32) error {
	switch code {
	case stopNone:
		return nil
	case stopCanceled:
		return context.Canceled
	case stopDeadline:
		return context.DeadlineExceeded
	}
	return ErrStopped
}

// Ctx is what a kernel learns about the job it runs in. A kernel must not
// keep it past its call.
type Ctx struct {
	worker int
	stop   *atomic.Uint32 // the job's stop word (shared memory for a process team)
	beat   *atomic.Uint32 // the worker's progress word (worker processes only)
	ctx    context.Context

	// In a worker process, Context builds a context that follows the stop
	// word; the poller ends with the job.
	mu     sync.Mutex
	wctx   context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// Worker returns the index of the participant running the chunk: 0 ≤
// Worker() < Team.Workers(). With Primary the coordinator is
// participant 0. Use it to index per-worker scratch space.
func (c *Ctx) Worker() int { return c.worker }

// Err returns nil while the job runs, and once it is stopping the reason:
// context.Canceled or context.DeadlineExceeded when the coordinator's
// context ended, ErrStopped when another chunk failed. A long kernel polls
// it (cheaply: one load of a shared word) and returns early.
func (c *Ctx) Err() error { return stopErr(c.stop.Load()) }

// Progress tells the team that the kernel is making progress, for the stall
// watch (StallLimit): a kernel that waits (on I/O, a lock, another
// process) for longer than the stall limit without using CPU time calls it
// at least once per limit, from any goroutine, while its chunk runs. It
// costs one atomic add to a word of the worker's own; in the coordinator's
// process (Primary, goroutine backend) it does nothing.
func (c *Ctx) Progress() {
	if c.beat != nil {
		c.beat.Add(1)
	}
}

// Context returns a context that is done when the job stops (see Err). In
// the coordinator's process (goroutine backend, primary participant) it is
// the context passed to For; in a worker process it is a context that
// follows the job's stop word, checked every millisecond.
func (c *Ctx) Context() context.Context {
	if c.ctx != nil {
		return c.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wctx == nil {
		c.wctx, c.cancel = context.WithCancelCause(context.Background())
		c.done = make(chan struct{})
		go c.follow(c.wctx, c.cancel, c.done)
	}
	return c.wctx
}

func (c *Ctx) follow(ctx context.Context, cancel context.CancelCauseFunc, done chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if err := c.Err(); err != nil {
				cancel(err)
				return
			}
		}
	}
}

// endJob stops the poller of a worker-process Context, if one was made,
// and readies c for the next job.
func (c *Ctx) endJob() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.wctx != nil {
		close(c.done)
		c.cancel(ErrStopped)
		c.wctx, c.cancel, c.done = nil, nil, nil
	}
}
