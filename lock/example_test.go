package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shmpar/shmpar/lock"
)

// A Mutex placed in a buffer. With a shared mapping (an shm segment's Locks
// area, or any MAP_SHARED file) instead of a heap buffer, every process that
// maps it shares the lock.
func ExamplePlace() {
	buf := make([]byte, 4096) // stands in for a shared mapping
	m, err := lock.Place[lock.Mutex](buf, 64)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := m.Lock(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("locked:", m.Owner() != 0)
	if err := m.Unlock(); err != nil {
		fmt.Println(err)
	}

	_, err = lock.Place[lock.Mutex](buf, 3)
	fmt.Println(errors.Is(err, lock.ErrMisaligned))
	_, err = lock.Place[lock.Barrier](buf, 4000)
	fmt.Println(errors.Is(err, lock.ErrOutOfRange))
	// Output:
	// locked: true
	// true
	// true
}

// The pattern for a robust mutex: a Lock that returns ErrOwnerDead still
// locks; the caller repairs the protected data and calls Consistent.
func ExampleMutex() {
	var m lock.Mutex // zero value: unlocked
	counter := 0

	increment := func() error {
		err := m.Lock()
		switch {
		case errors.Is(err, lock.ErrOwnerDead):
			// The previous owner died in the middle of an update: repair
			// (here: nothing to do), then mark the state consistent.
			if err := m.Consistent(); err != nil {
				return err
			}
		case err != nil:
			return err // not recoverable: we do not hold the lock
		}
		defer m.Unlock()
		counter++
		return nil
	}
	for range 3 {
		if err := increment(); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(counter)
	// Output: 3
}

func ExampleMutex_LockContext() {
	var m lock.Mutex
	_ = m.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := m.LockContext(ctx) // not reentrant: waits for the owner
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	_ = m.Unlock()
	// Output: true
}

func ExampleSemaphore() {
	var s lock.Semaphore
	if err := s.Init(2, 2); err != nil { // two units, at most two
		fmt.Println(err)
		return
	}
	fmt.Println(s.TryAcquire(), s.TryAcquire(), s.TryAcquire())
	_ = s.Release()
	_ = s.Release()
	err := s.Release() // past the bound
	fmt.Println(errors.Is(err, lock.ErrOverflow), s.Value())
	// Output:
	// true true false
	// true 2
}

func ExampleBarrier() {
	var b lock.Barrier
	if err := b.Init(3); err != nil {
		fmt.Println(err)
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := 0
	for range 3 {
		wg.Go(func() {
			i, err := b.Wait()
			if err != nil {
				fmt.Println(err)
				return
			}
			if i == b.Parties()-1 {
				mu.Lock()
				last++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Println("rounds tripped:", last)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := b.WaitContext(ctx) // the other two never come
	fmt.Println(errors.Is(err, lock.ErrBrokenBarrier), b.Broken())
	b.Reset()
	fmt.Println(b.Broken())
	// Output:
	// rounds tripped: 1
	// true true
	// false
}

func ExampleEvent() {
	var e lock.Event
	done := make(chan error)
	go func() { done <- e.Wait() }()
	e.Set()
	fmt.Println(<-done, e.IsSet())
	// Output: <nil> true
}

func ExampleCond() {
	var m lock.Mutex
	var c lock.Cond
	ready := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Lock()
		for !ready { // always re-check: wake-ups may be spurious
			if err := c.Wait(&m); err != nil {
				fmt.Println(err)
				return
			}
		}
		fmt.Println("ready")
		_ = m.Unlock()
	}()
	_ = m.Lock()
	ready = true
	_ = m.Unlock()
	c.Broadcast()
	<-done
	// Output: ready
}

// A re-entrant lock: the Token that Lock returns is the holder's identity,
// passed down to the code that locks again.
func ExampleRLock() {
	var r lock.RLock // zero value: unlocked
	balance := map[string]int{"a": 10, "b": 0}

	// withdraw locks r itself, so it is safe to call on its own and from
	// code that already holds r, if that code passes its Token.
	withdraw := func(tok lock.Token, who string, n int) error {
		tok, err := r.Lock(tok)
		if err != nil {
			return err
		}
		defer r.Unlock(tok)
		fmt.Println("depth", r.Depth(tok))
		balance[who] -= n
		return nil
	}
	transfer := func(from, to string, n int) error {
		tok, err := r.Lock(0) // the zero Token: wait until r is free
		if err != nil {
			return err
		}
		defer r.Unlock(tok)
		if err := withdraw(tok, from, n); err != nil { // re-enters
			return err
		}
		balance[to] += n
		return nil
	}

	if err := transfer("a", "b", 3); err != nil {
		fmt.Println(err)
	}
	if err := withdraw(0, "b", 1); err != nil { // on its own
		fmt.Println(err)
	}
	fmt.Println(balance["a"], balance["b"], r.Owner() == 0)
	// Output:
	// depth 2
	// depth 1
	// 7 2 true
}
