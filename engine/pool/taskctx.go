package pool

import (
	"context"
	"sync"
	"time"

	"github.com/shmpar/shmpar/engine"
)

// taskCtx is the context a task gets in a worker process: done when the call
// is canceled, the task's deadline passes, or the session stops. One value
// is reused from task to task; Done starts a poller only when a task asks
// for the channel.
type taskCtx struct {
	st       *poolShared
	job      *engine.Ctx
	call     uint64
	deadline time.Time
	hasDL    bool
	mu       sync.Mutex
	done     chan struct{}
	stop     chan struct{}
}

func (c *taskCtx) begin(st *poolShared, job *engine.Ctx, call uint64, timeout int64) {
	c.st, c.job, c.call = st, job, call
	c.hasDL = timeout > 0
	if c.hasDL {
		c.deadline = time.Now().Add(time.Duration(timeout))
	}
}

func (c *taskCtx) end() {
	c.mu.Lock()
	if c.done != nil {
		close(c.stop)
		c.done, c.stop = nil, nil
	}
	c.mu.Unlock()
}

func (c *taskCtx) Deadline() (time.Time, bool) { return c.deadline, c.hasDL }
func (c *taskCtx) Value(any) any               { return nil }
func (c *taskCtx) String() string              { return "pool.taskContext" }

func (c *taskCtx) Err() error {
	return taskErrOf(c.st, c.job, c.call, c.deadline, c.hasDL)
}

func taskErrOf(st *poolShared, job *engine.Ctx, call uint64, deadline time.Time, hasDL bool) error {
	if st.canceled(call) || job.Err() != nil {
		return context.Canceled
	}
	if hasDL && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *taskCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done, c.stop = make(chan struct{}), make(chan struct{})
		go pollTask(c.st, c.job, c.call, c.deadline, c.hasDL, c.done, c.stop)
	}
	return c.done
}

// pollTask closes done when the task's context ends (checked every
// millisecond), or returns when the task does.
func pollTask(st *poolShared, job *engine.Ctx, call uint64, deadline time.Time, hasDL bool, done, stop chan struct{}) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if taskErrOf(st, job, call, deadline, hasDL) != nil {
				close(done)
				return
			}
		}
	}
}
