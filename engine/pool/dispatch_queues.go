package pool

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmpar/shmpar/engine/internal/spin"
	"github.com/shmpar/shmpar/queue"
)

// The dispatcher's reads and writes of the pool's queues: the result queue
// it waits on (polling its bell before it sleeps) and the workers' task
// queues it feeds, each rung through a bell in the pool's shared state.

// testResultErr, set by this package's tests, makes every dispatcher's
// reads of the result queue fail with its error, as a result queue whose
// writers are gone (queue.ErrPeerGone) or whose handle broke would.
var testResultErr atomic.Pointer[error]

// doneCtx is an ended context: Get with it takes a message if there is one
// and never waits.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// next returns the next message of the result queue, or nil at deadline.
// It polls the result bell first, yielding the CPU between polls
// (sched_yield, and Gosched so that a caller whose call just finished gets
// this P): on a busy machine the worker being waited for then runs at once,
// where the queue's own wait would keep the CPU for a time slice.
func (q *procPool) next(deadline time.Time) ([]byte, error) {
	if e := testResultErr.Load(); e != nil {
		return nil, *e
	}
	for {
		bell := q.st.resBell.Load()
		msg, err := q.res.GetAppend(doneCtx, q.rbuf[:0])
		if err == nil || !errors.Is(err, queue.ErrEmpty) {
			return msg, err
		}
		if q.spin <= 0 {
			break
		}
		d := q.spin
		if !deadline.IsZero() {
			if d = min(d, time.Until(deadline)); d <= 0 {
				return nil, nil
			}
		}
		rang := spin.Until(d, spin.WorkerPolls, func() bool {
			if q.st.resBell.Load() != bell {
				return true
			}
			runtime.Gosched()
			return false
		})
		if !rang {
			break
		}
	}
	if deadline.IsZero() {
		return q.res.GetAppend(context.Background(), q.rbuf[:0])
	}
	d := time.Until(deadline)
	if d <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	msg, err := q.res.GetAppend(ctx, q.rbuf[:0])
	cancel()
	if err != nil && errors.Is(err, queue.ErrEmpty) {
		return nil, nil
	}
	return msg, err
}

// putTask queues a message for worker i and rings its bell.
func (q *procPool) putTask(i int, m []byte) error {
	if err := q.tasks[i-q.first].TryPut(m); err != nil {
		return err
	}
	q.st.slots[i].taskBell.Add(1)
	return nil
}

// putResult puts one of the coordinator's own messages on the result queue
// and rings the bell; block waits for room.
func (q *procPool) putResult(m []byte, block bool) {
	var err error
	if block {
		err = q.res.Put(q.life, m)
	} else {
		err = q.res.TryPut(m)
	}
	if err == nil {
		q.st.resBell.Add(1)
	}
}
