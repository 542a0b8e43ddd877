package pool

import (
	"context"
	"iter"
)

// Future is the result of a task started with Func.Submit (Python's
// AsyncResult, concurrent.futures.Future). Its methods may be called from
// several goroutines.
type Future[Out any] struct {
	done chan struct{}
	val  Out
	err  error
}

func (f *Future[Out]) set(v Out, err error) {
	f.val, f.err = v, err
	close(f.done)
}

// Done returns a channel that is closed when the task has finished
// (successfully or not), for use in a select.
func (f *Future[Out]) Done() <-chan struct{} { return f.done }

// Wait waits for the task and returns its result, or a *TaskError for a
// failed task, or the error that kept it from running. If ctx ends first,
// Wait returns ctx.Err(); the task goes on (cancel it with the context
// passed to Submit).
func (f *Future[Out]) Wait(ctx context.Context) (Out, error) {
	select {
	case <-f.done:
		return f.val, f.err
	default:
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero Out
		return zero, ctx.Err()
	}
}

// Result returns what Wait would, without waiting: ErrNotDone while the task
// has not finished.
func (f *Future[Out]) Result() (Out, error) {
	select {
	case <-f.done:
		return f.val, f.err
	default:
		var zero Out
		return zero, ErrNotDone
	}
}

// AsCompleted yields the futures as their tasks finish, each once, in
// completion order (Python's concurrent.futures.as_completed); read each
// one's result with Result. If ctx ends first it yields (nil, ctx.Err())
// and stops. Breaking out of the loop leaves the tasks running.
func AsCompleted[Out any](ctx context.Context, futures ...*Future[Out]) iter.Seq2[*Future[Out], error] {
	return func(yield func(*Future[Out], error) bool) {
		if len(futures) == 0 {
			return
		}
		ready := make(chan int, len(futures))
		stop := make(chan struct{})
		defer close(stop)
		for i, f := range futures {
			go func() {
				select {
				case <-f.done:
					ready <- i
				case <-stop:
				}
			}()
		}
		for range futures {
			select {
			case i := <-ready:
				if !yield(futures[i], nil) {
					return
				}
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
		}
	}
}
