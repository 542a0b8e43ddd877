//go:build linux

package lock

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmpar/shmpar/internal/testproc"
	"github.com/stretchr/testify/require"
)

func init() {
	// rlockhold DEPTH MODE: lock the RLock at offPrim DEPTH times with one
	// Token, store the Token at offAux (uint64), raise the flag, then sleep
	// until killed (MODE=sleep) or exit holding it (MODE=exit).
	children["rlockhold"] = func(mem []byte, args []string) error {
		r, err := Place[RLock](mem, offPrim)
		if err != nil {
			return err
		}
		var tok Token
		for i := range atoi(args[0]) {
			t, err := r.Lock(tok)
			if err != nil {
				return fmt.Errorf("lock %d: %w", i, err)
			}
			if tok != 0 && t != tok {
				return fmt.Errorf("re-entering returned token %d, not %d", t, tok)
			}
			tok = t
		}
		memU64(mem, offAux).Store(uint64(tok))
		memU32(mem, offFlag).Store(1)
		if args[1] == "exit" {
			return nil
		}
		time.Sleep(60 * time.Second)
		return errors.New("was not killed")
	}
	// rlockincr N: wait for the start flag, then N times: lock, increment,
	// re-enter, increment, unlock twice; check the depth on the way.
	children["rlockincr"] = func(mem []byte, args []string) error {
		r, err := Place[RLock](mem, offPrim)
		if err != nil {
			return err
		}
		ctr := (*uint64)(unsafePointer(mem, offCounter))
		memU32(mem, offFlag).Add(1)
		if err := testproc.Poll("start", func() bool { return memU32(mem, offGo).Load() != 0 }); err != nil {
			return err
		}
		for i := range atoi(args[0]) {
			tok, err := r.Lock(0)
			if err != nil {
				return fmt.Errorf("lock %d: %w", i, err)
			}
			*ctr++
			if err := incrLocked(r, tok, ctr); err != nil {
				return fmt.Errorf("iteration %d: %w", i, err)
			}
			if err := r.Unlock(tok); err != nil {
				return fmt.Errorf("unlock %d: %w", i, err)
			}
		}
		return nil
	}
}

// incrLocked re-enters r, which the caller holds with tok, increments ctr
// and unlocks once: the shape of code that calls a locking helper while
// holding the lock.
func incrLocked(r *RLock, tok Token, ctr *uint64) error {
	t, err := r.Lock(tok)
	if err != nil {
		return err
	}
	if t != tok || r.Depth(tok) != 2 {
		return fmt.Errorf("re-entered with token %d at depth %d, want token %d at depth 2", t, r.Depth(tok), tok)
	}
	*ctr++
	return r.Unlock(tok)
}

func TestRLockReenter(t *testing.T) {
	var r RLock
	tok, err := r.Lock(0)
	require.NoError(t, err)
	require.NotZero(t, tok)
	require.Equal(t, 1, r.Depth(tok))
	for d := 2; d <= 5; d++ {
		t2, err := r.Lock(tok)
		require.NoError(t, err)
		require.Equal(t, tok, t2)
		require.Equal(t, d, r.Depth(tok))
	}
	t2, ok, err := r.TryLock(tok)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, tok, t2)
	t2, err = r.LockContext(canceled(), tok) // re-entering never waits
	require.NoError(t, err)
	require.Equal(t, tok, t2)
	require.Equal(t, 7, r.Depth(tok))
	for d := 6; d >= 1; d-- {
		require.NoError(t, r.Unlock(tok))
		require.Equal(t, d, r.Depth(tok))
		require.NotZero(t, r.m.w.Load(), "released before the last Unlock")
	}
	require.NoError(t, r.Unlock(tok))
	require.Zero(t, r.m.w.Load())
	require.Zero(t, r.Depth(tok))
	require.PanicsWithValue(t, "lock: unlock of unlocked RLock", func() { _ = r.Unlock(tok) })

	// A stale Token does not re-enter: it locks like the zero Token, and
	// gets a new one.
	t3, err := r.Lock(tok)
	require.NoError(t, err)
	require.NotEqual(t, tok, t3)
	require.Zero(t, r.Depth(tok))
	require.Equal(t, 1, r.Depth(t3))
	require.NoError(t, r.Unlock(t3))
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestRLockOtherGoroutineWaits(t *testing.T) {
	// The holder's process is not enough: a goroutine without the Token
	// waits until the last Unlock.
	var r RLock
	tok, err := r.Lock(0)
	require.NoError(t, err)
	_, err = r.Lock(tok)
	require.NoError(t, err)

	_, ok, err := r.TryLock(0)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = r.TryLock(tok + 1)
	require.NoError(t, err)
	require.False(t, ok, "a wrong token must not re-enter")
	require.ErrorIs(t, r.Unlock(0), ErrNotOwner)
	require.ErrorIs(t, r.Unlock(tok+1), ErrNotOwner)
	require.ErrorIs(t, r.Consistent(tok+1), ErrNotOwner)
	require.Equal(t, 2, r.Depth(tok), "a failed unlock must change nothing")

	type result struct {
		tok Token
		err error
	}
	got := make(chan result, 1)
	go func() {
		t2, err := r.LockContext(deadline(t, 20*time.Second), 0)
		got <- result{t2, err}
	}()
	waitAsleep(t, 1, r.m.key())
	require.NoError(t, r.Unlock(tok))
	select {
	case res := <-got:
		t.Fatalf("the waiter got the lock (%v) while it was held at depth 1", res)
	default:
	}
	require.NoError(t, r.Unlock(tok))
	res := <-got
	require.NoError(t, res.err)
	require.NotEqual(t, tok, res.tok)
	require.Zero(t, r.Depth(tok))
	require.Equal(t, 1, r.Depth(res.tok))
	require.NoError(t, r.Unlock(res.tok))
}

func TestRLockDepthLimit(t *testing.T) {
	var r RLock
	tok, err := r.Lock(0)
	require.NoError(t, err)
	r.s.Add(MaxRLockDepth - 1) // as if re-entered that many times
	require.Equal(t, MaxRLockDepth, r.Depth(tok))
	require.PanicsWithValue(t, fmt.Sprintf("lock: RLock re-entered more than %d times", MaxRLockDepth),
		func() { _, _ = r.Lock(tok) })
	require.Equal(t, MaxRLockDepth, r.Depth(tok), "the failed re-entry must change nothing")
	r.Reset()
	require.Zero(t, r.Owner())
	require.Zero(t, r.Depth(tok))
}

func TestRLockProcesses(t *testing.T) {
	n := 200_000
	if raceEnabled {
		n = 50_000
	}
	const procs = 3
	s := newShared(t)
	kids := make([]*child, procs)
	for i := range kids {
		kids[i] = startChild(t, s, "rlockincr", n)
	}
	testproc.WaitFor(t, "children ready", func() bool { return s.u32(offFlag).Load() == procs })
	s.u32(offGo).Store(1)
	for _, k := range kids {
		k.WaitOK(t)
	}
	require.Equal(t, uint64(2*procs*n), *s.plain(offCounter))
	r, err := Place[RLock](s.mem, offPrim)
	require.NoError(t, err)
	require.Zero(t, r.Owner(), "left locked")
	require.Zero(t, r.s.Load()&rlockDepthMask, "depth left above 0")
}

// rlockHolder starts a child that holds the shared RLock at depth and
// returns it with the child's Token.
func rlockHolder(t *testing.T, s *shared, depth int, mode string) (*child, Token) {
	k := startChild(t, s, "rlockhold", depth, mode)
	testproc.WaitFor(t, "the child to hold the rlock", func() bool { return s.u32(offFlag).Load() == 1 })
	return k, Token(s.u64(offAux).Load())
}

func TestRLockHolderKilledWhileReentered(t *testing.T) {
	s := newShared(t)
	r, err := Place[RLock](s.mem, offPrim)
	require.NoError(t, err)
	k, ktok := rlockHolder(t, s, 3, "sleep")
	require.Equal(t, k.PID(), r.Owner())

	// The child's Token means nothing in this process.
	_, ok, err := r.TryLock(ktok)
	require.NoError(t, err)
	require.False(t, ok)
	require.ErrorIs(t, r.Unlock(ktok), ErrNotOwner)
	require.ErrorContains(t, r.Unlock(ktok), fmt.Sprint(k.PID()))

	type result struct {
		tok Token
		err error
	}
	got := make(chan result, 1)
	go func() {
		tok, err := r.LockContext(deadline(t, 20*time.Second), 0)
		got <- result{tok, err}
	}()
	waitAsleep(t, 1, r.m.key())
	require.NoError(t, k.Kill())
	res := <-got
	require.ErrorIs(t, res.err, ErrOwnerDead)
	require.ErrorContains(t, res.err, fmt.Sprint(k.PID()))
	require.NotZero(t, res.tok)
	require.NotEqual(t, ktok, res.tok)
	require.Equal(t, 1, r.Depth(res.tok), "the dead holder's depth must not carry over")
	require.Zero(t, r.Depth(ktok))

	// Re-entering while repairing works; one Unlock per Lock, as always.
	_, err = r.Lock(res.tok)
	require.NoError(t, err)
	require.NoError(t, r.Consistent(res.tok))
	require.NoError(t, r.Unlock(res.tok))
	require.NoError(t, r.Unlock(res.tok))
	require.Zero(t, r.Owner())

	// Usable again, from another process too.
	k2, _ := rlockHolderAgain(t, s)
	k2.WaitOK(t) // exits holding it
	tok, ok, err := r.TryLock(0)
	require.True(t, ok)
	require.ErrorIs(t, err, ErrOwnerDead)
	require.NoError(t, r.Consistent(tok))
	require.NoError(t, r.Unlock(tok))
}

// rlockHolderAgain starts a second holder that exits holding the RLock at
// depth 2.
func rlockHolderAgain(t *testing.T, s *shared) (*child, Token) {
	s.u32(offFlag).Store(0)
	return rlockHolder(t, s, 2, "exit")
}

func TestRLockNotRecoverable(t *testing.T) {
	s := newShared(t)
	r, err := Place[RLock](s.mem, offPrim)
	require.NoError(t, err)
	k, _ := rlockHolder(t, s, 2, "sleep")
	require.NoError(t, k.Kill())
	tok, err := r.LockContext(deadline(t, 20*time.Second), 0)
	require.ErrorIs(t, err, ErrOwnerDead)
	err = r.Unlock(tok) // without Consistent
	require.ErrorIs(t, err, ErrNotRecoverable)
	require.ErrorContains(t, err, "rlock")
	tok, err = r.Lock(0)
	require.ErrorIs(t, err, ErrNotRecoverable)
	require.Zero(t, tok)
	_, ok, err := r.TryLock(0)
	require.False(t, ok)
	require.ErrorIs(t, err, ErrNotRecoverable)
	require.ErrorIs(t, r.Unlock(1), ErrNotRecoverable)
	r.Reset()
	tok, err = r.Lock(0)
	require.NoError(t, err)
	require.NoError(t, r.Unlock(tok))
}

func TestRLockContext(t *testing.T) {
	s := newShared(t)
	r, err := Place[RLock](s.mem, offPrim)
	require.NoError(t, err)
	rlockHolder(t, s, 1, "sleep")
	ctx, cancel := context.WithCancel(context.Background())
	check := cancelWhenAsleep(t, 1, r.m.key(), cancel)
	tok, err := r.LockContext(ctx, 0)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "lock rlock")
	require.Zero(t, tok)
	check()
	var free RLock
	tok, err = free.LockContext(ctx, 0) // free: locks even with ctx done
	require.NoError(t, err)
	require.NoError(t, free.Unlock(tok))
}
