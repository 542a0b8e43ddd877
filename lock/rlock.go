package lock

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// RLockSize is the size in bytes of an RLock (its alignment is 8).
const RLockSize = 16

// MaxRLockDepth is the deepest an RLock can be re-entered: the number of
// Locks of one holder that are not yet matched by an Unlock.
const MaxRLockDepth = 1<<rlockDepthBits - 1

const (
	rlockDepthBits        = 24
	rlockDepthMask uint64 = 1<<rlockDepthBits - 1
	rlockGenMask   uint64 = 1<<(64-rlockDepthBits) - 1
)

// A Token names one holding of an RLock: Lock returns it, and the holder
// passes it back to re-enter (Lock again), to Unlock and to Consistent. It
// plays the part of the owning thread of Python's RLock, since a goroutine
// has no identity. A Token is a plain number: pass it down the calls that run
// under the lock, like a context. The zero Token holds nothing.
type Token uint64

// RLock is a robust re-entrant lock that may live in memory shared between
// processes, like Python's multiprocessing.RLock. Its holder is a process
// together with a Token: Lock with the zero Token waits until the RLock is
// free and returns a new Token; Lock with the holder's Token re-enters at
// once, and each Lock is undone by one Unlock with that Token. A goroutine
// of the holding process that does not have the Token waits like any other
// process, so two goroutines never hold it at once by accident.
//
// The zero value is an unlocked RLock. It is RLockSize bytes with no
// pointers: a Mutex (the owning process, the waiters bit, and the robust
// state) and a word holding the generation, which is the holder's Token, and
// the depth, the number of Locks not yet undone (at most MaxRLockDepth). Only
// the holder writes the second word. It must not be copied after first use.
//
// An Unlock that releases the RLock happens before the next Lock that
// acquires it, also across processes. If the holding process dies, at any
// depth, the next locker gets the RLock with depth 1, a new Token and
// ErrOwnerDead, like a Mutex: it repairs, calls Consistent, then Unlock.
//
// A Token stays valid until the Unlock that releases the RLock; a stale
// Token (from an earlier holding) never re-enters: Lock treats it like the
// zero Token and waits. Tokens are generations of the RLock, so a stale one
// could be taken for the current one only after 2^40 further acquisitions.
type RLock struct {
	_ noCopy
	m Mutex
	s atomic.Uint64 // generation<<24 | depth; written only by the holder
}

// Lock locks r. With the zero Token (or one that does not hold r) it waits
// until r is free and returns a new Token; with the Token that holds r it
// re-enters at once and returns the same Token. It returns errors like
// Mutex.Lock: nil; one wrapping ErrOwnerDead when the caller holds r (depth
// 1) but the previous holder died holding it; or one wrapping
// ErrNotRecoverable, with the zero Token, when the caller holds nothing.
func (r *RLock) Lock(tok Token) (Token, error) {
	if tok != 0 && r.reenter(tok) {
		return tok, nil
	}
	if r.m.w.CompareAndSwap(0, self) {
		return r.acquired(), nil
	}
	return r.lockSlow(context.Background())
}

// LockContext is Lock with a deadline or cancellation: if ctx is done before
// r could be locked it returns the zero Token and an error wrapping
// ctx.Err(). Re-entering, and locking a free r, succeed even if ctx is done.
func (r *RLock) LockContext(ctx context.Context, tok Token) (Token, error) {
	if tok != 0 && r.reenter(tok) {
		return tok, nil
	}
	if r.m.w.CompareAndSwap(0, self) {
		return r.acquired(), nil
	}
	return r.lockSlow(ctx)
}

func (r *RLock) lockSlow(ctx context.Context) (Token, error) {
	err := r.m.lockSlow(ctx, "rlock")
	if err != nil && !errors.Is(err, ErrOwnerDead) {
		return 0, err
	}
	return r.acquired(), err
}

// TryLock locks r if it is free or held with tok, without waiting. It reports
// whether the caller now holds r and returns its Token; like Mutex.TryLock,
// it takes over r from a dead holder (true, with an error wrapping
// ErrOwnerDead) and fails with ErrNotRecoverable.
func (r *RLock) TryLock(tok Token) (Token, bool, error) {
	if tok != 0 && r.reenter(tok) {
		return tok, true, nil
	}
	ok, err := r.m.tryLock("rlock")
	if !ok {
		return 0, false, err
	}
	return r.acquired(), true, err
}

// acquired starts a new holding of r, which the caller's process has just
// locked: a new generation, depth 1. It may overwrite what a dead holder
// left.
func (r *RLock) acquired() Token {
	gen := (r.s.Load()>>rlockDepthBits + 1) & rlockGenMask
	if gen == 0 {
		gen = 1
	}
	// Only the holder writes s, and nobody CASes a word of depth 0 or of a
	// dead holder's generation with a Token from this process, so a plain
	// store cannot lose an update.
	r.s.Store(gen<<rlockDepthBits | 1)
	return Token(gen)
}

// reenter adds one to the depth if tok is the Token of a holding by the
// caller's process, and reports whether it did.
func (r *RLock) reenter(tok Token) bool {
	for {
		s := r.s.Load()
		if !r.holds(s, tok) {
			return false
		}
		if s&rlockDepthMask == rlockDepthMask {
			panic(fmt.Sprintf("lock: RLock re-entered more than %d times", MaxRLockDepth))
		}
		if r.s.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// holds reports whether state word s shows a holding with Token tok by the
// caller's process.
func (r *RLock) holds(s uint64, tok Token) bool {
	return tok != 0 && Token(s>>rlockDepthBits) == tok && s&rlockDepthMask != 0 &&
		r.m.w.Load()&ownerMask == self
}

// Unlock undoes one Lock of the holding named by tok; the last one releases
// r. It returns an error wrapping ErrNotOwner, and changes nothing, when tok
// does not hold r and r is held (by another process, or by this one with
// another Token); Unlock of an unlocked RLock is a programming error and
// panics with "lock: unlock of unlocked RLock", like Mutex.Unlock. The
// release returns an error wrapping ErrNotRecoverable when r was inconsistent
// (its previous holder died) and Consistent was not called: r is then not
// recoverable.
func (r *RLock) Unlock(tok Token) error {
	for {
		s := r.s.Load()
		if !r.holds(s, tok) {
			return r.notHeld("unlock", tok)
		}
		if !r.s.CompareAndSwap(s, s-1) {
			continue
		}
		if s&rlockDepthMask > 1 {
			return nil
		}
		if r.m.w.CompareAndSwap(self, 0) {
			return nil
		}
		return r.m.unlockSlow("rlock")
	}
}

// notHeld explains why tok does not hold r.
func (r *RLock) notHeld(op string, tok Token) error {
	w := r.m.w.Load()
	switch {
	case w == 0:
		if op == "unlock" {
			panic("lock: unlock of unlocked RLock")
		}
		return fmt.Errorf("%s rlock: it is unlocked: %w", op, ErrNotOwner)
	case uint32(w)&flagNotRecoverable != 0:
		return fmt.Errorf("%s rlock: %w", op, ErrNotRecoverable)
	case w&ownerMask == self:
		return fmt.Errorf("%s rlock with token %d: held by this process with another token: %w", op, tok, ErrNotOwner)
	}
	return fmt.Errorf("%s rlock held by process %d: %w", op, ownerPID(w), ErrNotOwner)
}

// Consistent marks r, which the caller holds with tok after ErrOwnerDead, as
// consistent again; see Mutex.Consistent. It returns an error wrapping
// ErrNotOwner if tok does not hold r.
func (r *RLock) Consistent(tok Token) error {
	if !r.holds(r.s.Load(), tok) {
		return r.notHeld("mark consistent", tok)
	}
	return r.m.consistent("rlock")
}

// Owner returns the pid of the process holding r, or 0 if r is unlocked or
// not recoverable (for diagnostics, like Mutex.Owner).
func (r *RLock) Owner() int { return r.m.Owner() }

// Depth returns how many Locks of the holding named by tok are not yet
// undone, or 0 if tok does not hold r.
func (r *RLock) Depth(tok Token) int {
	s := r.s.Load()
	if !r.holds(s, tok) {
		return 0
	}
	return int(s & rlockDepthMask)
}

// Reset forces r back to the unlocked state and wakes any waiters; see
// Mutex.Reset for when that is safe.
func (r *RLock) Reset() {
	r.s.Store(r.s.Load() &^ rlockDepthMask)
	r.m.Reset()
}
