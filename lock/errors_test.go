//go:build linux

package lock

import (
	"context"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/proc"
	"github.com/stretchr/testify/require"
)

// TestErrorTexts pins what the errors say: the operation and its object
// once, then the sentinel's text, never the package name (only panics carry
// "lock: ").
func TestErrorTexts(t *testing.T) {
	nobody := 1<<22 + 11 // no such pid
	dead := ownerWord(proc.ID{PID: nobody, Start: 1})
	var texts []string
	check := func(err error, want string) {
		t.Helper()
		require.EqualError(t, err, want)
		texts = append(texts, err.Error())
	}

	var nr Mutex
	nr.w.Store(uint64(flagNotRecoverable))
	_, err := nr.TryLock()
	check(err, "trylock mutex: mutex is not recoverable")
	check(nr.Lock(), "lock mutex: mutex is not recoverable")
	check(nr.Unlock(), "unlock mutex: mutex is not recoverable")
	check(nr.Consistent(), "mark mutex consistent: mutex is not recoverable")

	var other Mutex
	other.w.Store(dead)
	check(other.Unlock(), "unlock mutex held by process 4194315: mutex is not held by this process")
	check(other.Consistent(), "mark mutex held by process 4194315 consistent: mutex is not held by this process")
	_, err = other.TryLock()
	check(err, "previous owner died holding the lock (process 4194315)")
	check(other.Unlock(), "unlock inconsistent mutex without Consistent: mutex is not recoverable")

	var held Mutex
	require.NoError(t, held.Lock())
	check(held.LockContext(deadline(t, 10*time.Millisecond)), "lock mutex: context deadline exceeded")
	var c Cond
	check(c.Wait(&nr), "wait on cond with a mutex held by process 0: mutex is not held by this process")
	require.NoError(t, held.Unlock())

	var s Semaphore
	check(s.Init(2, 1), "init semaphore with count 2 and bound 1: invalid argument")
	require.NoError(t, s.Init(1, 1))
	check(s.ReleaseN(-1), "release -1 units of semaphore: invalid argument")
	check(s.ReleaseN(2), "release 2 units of semaphore at count 1: would pass the bound 1: semaphore released too many times")
	var empty Semaphore
	check(empty.AcquireContext(deadline(t, 10*time.Millisecond)), "acquire semaphore: context deadline exceeded")

	var b Barrier
	_, err = b.Wait()
	check(err, "wait at barrier: not initialized (call Init): invalid argument")
	check(b.Init(0), "init barrier with 0 parties: invalid argument")
	require.NoError(t, b.Init(2))
	_, err = b.WaitContext(deadline(t, 10*time.Millisecond))
	check(err, "wait at barrier: barrier is broken (context deadline exceeded)")
	_, err = b.Wait()
	check(err, "wait at barrier: barrier is broken")

	var e Event
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	check(e.WaitContext(ctx), "wait for event: context canceled")

	var rw RWMutex
	require.NoError(t, rw.RLock())
	check(rw.LockContext(deadline(t, 10*time.Millisecond)), "lock rwmutex: context deadline exceeded")
	require.NoError(t, rw.RUnlock())

	_, err = Place[Mutex](make([]byte, 12), 10)
	check(err, "place Mutex (8 bytes) at offset 10 of a 12-byte buffer: placement out of range")

	for _, text := range texts {
		require.NotRegexp(t, `(^|: )lock: `, text, "a package prefix")
	}
}
