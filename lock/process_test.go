//go:build linux

package lock

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/process"
	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

// lockArgs are the arguments of lockInProcess: Python's
// Process(target=f, args=(lock, event)).
type lockArgs struct {
	Mu     *SharedMutex
	Locked *SharedEvent
}

// lockInProcess locks the Mutex it was passed, says so through the Event,
// and unlocks it.
var lockInProcess = process.Register("lock.lockInProcess", func(ctx context.Context, a lockArgs) error {
	if err := a.Mu.LockContext(ctx); err != nil {
		return err
	}
	a.Locked.Set()
	return a.Mu.Unlock()
})

func TestSharedThroughProcess(t *testing.T) {
	mu, err := NewMutex()
	require.NoError(t, err)
	defer mu.Close()
	locked, err := NewEvent()
	require.NoError(t, err)
	defer locked.Close()
	ctx := deadline(t, 30*time.Second)

	require.NoError(t, mu.Lock())
	p, err := lockInProcess.Start(ctx, lockArgs{Mu: mu, Locked: locked})
	require.NoError(t, err)
	// Start returned: the process decoded its arguments, and it now sleeps
	// on the Mutex this process holds.
	testproc.WaitAsleep(t, 1, p.PID(), futexWordOf(t, p.PID(), mu.Path(), unsafe.Pointer(mu.key())))
	require.False(t, locked.IsSet(), "the process locked a held Mutex")
	require.NoError(t, mu.Unlock())
	require.NoError(t, locked.WaitContext(ctx))
	require.NoError(t, p.Wait())
	require.Zero(t, mu.Owner())

	// A primitive itself is refused before any process starts, with an
	// error that names the handle to use.
	var m Mutex
	_, err = bareMutex.Start(ctx, bareArgs{Mu: &m})
	require.ErrorIs(t, err, engine.ErrArgsEncode)
	require.ErrorContains(t, err, "pass a *lock.SharedMutex (lock.NewMutex) instead")
}

type bareArgs struct{ Mu *Mutex }

var bareMutex = process.Register("lock.bareMutex", func(ctx context.Context, a bareArgs) error {
	return fmt.Errorf("started with a bare *Mutex %p", a.Mu)
})
