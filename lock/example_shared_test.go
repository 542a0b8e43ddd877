//go:build linux

package lock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/lock"
)

// JobArgs are what Python would pass as Process(target=job, args=(...)).
type JobArgs struct {
	Mu    *lock.SharedMutex     // multiprocessing.Lock()
	Slots *lock.SharedSemaphore // multiprocessing.Semaphore(1)
	Go    *lock.SharedBarrier   // multiprocessing.Barrier(2)
	Done  *lock.SharedEvent     // multiprocessing.Event()
}

var job = process.Register("lock_test.job", func(ctx context.Context, a JobArgs) error {
	if _, err := a.Go.WaitContext(ctx); err != nil { // meet the parent
		return err
	}
	if err := a.Slots.AcquireContext(ctx); err != nil {
		return err
	}
	defer a.Slots.Release()
	if err := a.Mu.LockContext(ctx); err != nil {
		return err
	}
	defer a.Mu.Unlock()
	a.Done.Set()
	return nil
})

// Locks of their own, passed to another process in its arguments: each
// crosses as a reference to its segment, so both processes use the same
// lock. (The program's main must start with engine.Main().)
func ExampleNewMutex() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mu, err := lock.NewMutex()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mu.Close()
	slots, _ := lock.NewSemaphore(1, 1)
	defer slots.Close()
	start, _ := lock.NewBarrier(2)
	defer start.Close()
	done, _ := lock.NewEvent()
	defer done.Close()

	p, err := job.Start(ctx, JobArgs{Mu: mu, Slots: slots, Go: start, Done: done})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := start.WaitContext(ctx); err != nil {
		fmt.Println(err)
	}
	if err := done.WaitContext(ctx); err != nil {
		fmt.Println(err)
	}
	if err := p.Wait(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("done:", done.IsSet())
	fmt.Println("unlocked:", mu.Owner() == 0, "free slots:", slots.Value())
	// Output:
	// done: true
	// unlocked: true free slots: 1
}
