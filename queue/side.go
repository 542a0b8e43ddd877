package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/futex"
	"github.com/shmpar/shmpar/internal/spinwait"
)

// A side is the producers' or the consumers' half of a ring: the critical
// sections of Put (or Get) run one at a time across every process. Its lock
// is a robust lock, like lock.Mutex (an owner word naming a process by pid
// and start time, taken over when its owner dies), with one addition: a
// mapping that takes the lock many times in a row keeps it between calls
// (the lock is biased to it), and then enters its critical section with
// plain loads and stores, without a locked instruction. Any other mapping,
// of this process or another, revokes the bias when it wants the lock. See
// doc.go, "Sides", for the protocol and its proof.
//
// The lock word (ctl.putMu, ctl.getMu), 64 bits:
//
//	bits  0..21  pid of the holder (0: free)
//	bits 22..27  token of the holding mapping in that process (0: none)
//	bit  28      biased: the holder keeps the lock between calls
//	bit  29      broken: a repair found the ring damaged; every call fails
//	bit  31      waiters: a process may sleep on the low 32 bits
//	bits 32..63  low 32 bits of the holder's start time
//
// The cs word (ctl.putCS, ctl.getCS) holds the holder bits (pid, token,
// start time) of a biased holder while it is inside its critical section,
// and 0 otherwise. The streak word counts the acquisitions in a row by one
// mapping (its pid and token in the high half), for the bias policy. The
// ack word names a holder whose bias was revoked until that holder has
// seen it (it may have been about to enter, and store cs, when revoked);
// no bias is granted while it is set, so that such a late store can never
// land while another biased holder is inside (see doc.go, "Sides").
const (
	lwPID      uint64 = 1<<22 - 1
	lwTokShift        = 22
	lwTok      uint64 = 63 << lwTokShift
	lwBiased   uint64 = 1 << 28
	lwBroken   uint64 = 1 << 29
	lwWaiters  uint64 = 1 << 31
	lwProc     uint64 = 0xFFFF_FFFF_0000_0000 | lwPID // names a process
	lwHolder   uint64 = lwProc | lwTok                // names a mapping
)

// Tuning of the slow paths.
const (
	// lockSpin bounds how long a contended acquisition spins before it
	// sleeps, as lock.Mutex does (see package lock for the choice).
	lockSpin = 20 * time.Microsecond
	// checkInterval is the longest a waiter goes without checking that the
	// holder it waits for is alive.
	checkInterval = 50 * time.Millisecond
	// biasStreak is how many acquisitions in a row by one mapping make the
	// lock biased to it. A revocation costs a system call that interrupts
	// every processor running a process of this package, so the lock is
	// biased only to a mapping that has it to itself.
	biasStreak = 64
)

// biasAfter is biasStreak, a variable so that tests can bias at once.
var biasAfter uint32 = biasStreak

// side is one mapping's view of one side of a ring. Its fields other than
// local are set once; biased is guarded by local.
type side struct {
	mu, cs, streak, ack *atomic.Uint64 // in the ring's control block

	// local makes the goroutines of this mapping enter one at a time; it
	// also makes Close wait for calls in flight.
	local sync.Mutex
	id    uint64 // holder bits of this mapping: self with its token
	// biased says the current critical section was entered on the bias
	// (no lock operation to undo).
	biased bool
	// fenced makes the bias holder's store of cs a full barrier, where
	// this process could not register for asymmetric fences.
	fenced bool
	// ackPolls counts acked's calls while a revoked holder has not
	// acknowledged, to look for its death now and then.
	ackPolls uint32
}

func (s *side) key() *uint32 { return lowHalf(unsafe.Pointer(s.mu)) }

// errBroken is the error of every call on a side whose repair found damage.
var errBroken = fmt.Errorf("%w: a process found it damaged after another died", ErrCorrupt)

// enter takes the side for a critical section; the caller holds s.local.
// repair reports that a process died inside its critical section (or
// holding the lock): the caller must repair the ring's state, then call
// s.broken if it cannot. On error the caller does not hold the side.
func (s *side) enter(ctx context.Context) (repair bool, err error) {
	if s.id&lwTok != 0 {
		b := s.id | lwBiased
		if s.mu.Load() == b {
			if testHook != nil {
				testHook("lock:pre-cs")
			}
			// Say we are inside, then look again: a revoker either sees
			// cs set (it waits for us to leave) or we see its word. See
			// doc.go for why no barrier is needed between the two.
			if s.fenced {
				s.cs.Store(s.id)
			} else {
				storeRel(s.cs, s.id)
			}
			if testHook != nil {
				testHook("lock:cs")
			}
			if s.mu.Load() == b {
				s.biased = true
				return false, nil
			}
			storeRel(s.cs, 0)
		}
		// Not (or no longer) biased to us, and we are not inside: if our
		// bias was revoked, say we have seen it.
		if s.ack.Load() == s.id {
			storeRel(s.ack, 0)
		}
	}
	s.biased = false
	return s.lockSlow(ctx)
}

// exit leaves the critical section entered by enter.
func (s *side) exit() {
	if s.biased {
		storeRel(s.cs, 0)
		return
	}
	s.unlockSlow()
}

// lockSlow acquires the lock without the bias: from free, by revoking a
// bias, or from a dead holder; otherwise it spins, then sleeps, until the
// holder lets go.
func (s *side) lockSlow(ctx context.Context) (bool, error) {
	var start, lastCheck int64
	var arm *sleepArm
	slept := false
	for i := 0; ; i++ {
		w := s.mu.Load()
		switch {
		case w&lwBroken != 0:
			arm.disarm()
			return false, errBroken
		case w == 0 || w == lwWaiters:
			nw := s.id
			if slept {
				// Others may sleep still: the unlock after ours wakes one.
				nw |= lwWaiters
			}
			if s.mu.CompareAndSwap(w, nw|w&lwWaiters) {
				arm.disarm()
				return s.acquired(ctx, w, false)
			}
			continue
		case w&lwBiased != 0:
			// Revoke the bias; the holder may be inside its critical
			// section, which acquired waits out.
			if s.mu.CompareAndSwap(w, s.id|w&lwWaiters) {
				arm.disarm()
				return s.acquired(ctx, w, false)
			}
			continue
		}
		if i < spinRounds {
			spinWait(i)
			continue
		}
		now := nanotime()
		if start == 0 {
			start = now
		}
		if now-start < int64(lockSpin) {
			spinWait(i)
			continue
		}
		if lastCheck == 0 || now-lastCheck >= int64(checkInterval) {
			lastCheck = now
			if !alive(w & lwProc) {
				if s.mu.CompareAndSwap(w, s.id|w&lwWaiters) {
					arm.disarm()
					return s.acquired(ctx, w, true)
				}
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			arm.disarm()
			return false, err
		}
		if w&lwWaiters == 0 {
			if !s.mu.CompareAndSwap(w, w|lwWaiters) {
				continue
			}
			w |= lwWaiters
		}
		if arm == nil && ctx.Done() != nil {
			arm = armWake(ctx, s.key())
		}
		limit := time.Duration(lastCheck + int64(checkInterval) - now)
		if err := futex.Wait(s.key(), uint32(w), limit); err != nil && err != futex.ErrTimeout {
			arm.disarm()
			return false, fmt.Errorf("futex wait: %w", err)
		}
		slept = true
	}
}

// sleepArm wakes the sleepers on a futex word when a context ends.
type sleepArm struct {
	stop   func() bool
	kicked chan struct{}
}

func armWake(ctx context.Context, key *uint32) *sleepArm {
	a := &sleepArm{kicked: make(chan struct{})}
	a.stop = context.AfterFunc(ctx, func() {
		_, _ = futex.Wake(key, 1<<30)
		close(a.kicked)
	})
	return a
}

// disarm stops the wake-up, and waits for it if it already started: the
// caller may unmap the word once it returns.
func (a *sleepArm) disarm() {
	if a != nil && !a.stop() {
		<-a.kicked
	}
}

// acquired finishes an acquisition that replaced the word prev: it counts
// the streak and, if prev was a bias, fences and waits until the biased
// holder is out of its critical section (or dead). dead says prev's holder
// was found dead. It reports whether the ring needs repair.
func (s *side) acquired(ctx context.Context, prev uint64, dead bool) (bool, error) {
	streak := uint64(1)
	if st := s.streak.Load(); st>>32 == s.id&0xFFFF_FFFF && prev&lwBiased == 0 {
		streak = min(st&0xFFFF_FFFF+1, 1<<31)
	}
	storeRel(s.streak, s.id<<32|streak)
	if prev&lwBiased != 0 {
		// Until the revoked holder has seen the revocation it may still
		// store cs once: no bias until then.
		storeRel(s.ack, prev&lwHolder)
		revokeFence()
	}
	// Whoever held the lock before (a revoked bias, or a holder that died
	// while revoking one) may have left a biased holder inside its
	// critical section: wait for it to leave.
	c := s.cs.Load()
	if c != 0 {
		if testHook != nil {
			testHook("lock:cs-wait")
		}
		var err error
		if c, err = s.waitCS(ctx, c); err != nil {
			s.unlockSlow()
			return false, err
		}
	}
	if c != 0 {
		// A biased holder died inside its critical section.
		storeRel(s.cs, 0)
		return true, nil
	}
	return dead, nil
}

// waitCS waits until the cs word is 0 or names a dead holder, and returns
// it. A critical section is a few hundred instructions and a copy, so it
// polls: spinning, then sleeping longer and longer (at most 1 ms), checking
// the holder's liveness every checkInterval.
func (s *side) waitCS(ctx context.Context, c uint64) (uint64, error) {
	var start, lastCheck int64
	sleep := time.Microsecond
	for i := 0; c != 0; i++ {
		var now int64
		if i >= spinRounds {
			now = nanotime()
			if start == 0 {
				start, lastCheck = now, now
			}
		}
		if i < spinRounds || now-start < int64(lockSpin) {
			spinWait(i)
		} else {
			if now-lastCheck >= int64(checkInterval) {
				lastCheck = now
				if !alive(c & lwProc) {
					return c, nil
				}
			}
			if err := ctx.Err(); err != nil {
				return c, err
			}
			time.Sleep(sleep)
			sleep = min(2*sleep, time.Millisecond)
		}
		if testHook != nil {
			testHook("lock:cs-waiting")
		}
		c = s.cs.Load()
		if c != 0 && i == 0 && !alive(c&lwProc) {
			return c, nil
		}
	}
	return 0, nil
}

// unlockSlow releases a lock held without the bias. After biasAfter
// acquisitions in a row by this mapping, and with nobody asleep, it keeps
// the lock as a bias instead.
func (s *side) unlockSlow() {
	for {
		w := s.mu.Load()
		if w&lwHolder != s.id&lwHolder {
			return // broken meanwhile, or not ours: nothing to release
		}
		if w&lwWaiters == 0 && s.id&lwTok != 0 && uint32(s.streak.Load()) >= biasAfter && s.acked() {
			if s.mu.CompareAndSwap(w, s.id|lwBiased) {
				return
			}
			continue
		}
		if s.mu.CompareAndSwap(w, 0) {
			if w&lwWaiters != 0 {
				_, _ = futex.Wake(s.key(), 1)
			}
			return
		}
	}
}

// acked reports whether no revoked holder may still store cs, clearing the
// ack word when it names this mapping (it is not inside: it holds the lock)
// or a dead process. The caller holds the lock.
func (s *side) acked() bool {
	a := s.ack.Load()
	if a == 0 {
		return true
	}
	if a != s.id {
		// Look for a dead holder only now and then: a live one
		// acknowledges on its next call, and until then we do not bias.
		s.ackPolls++
		if s.ackPolls%1024 != 0 || alive(a&lwProc) {
			return false
		}
	}
	storeRel(s.ack, 0)
	return true
}

// broken marks the side not recoverable (the caller holds it, having found
// the ring damaged in a repair) and wakes every waiter, which then fails.
func (s *side) broken() {
	s.mu.Store(lwBroken)
	_, _ = futex.Wake(s.key(), 1<<30)
}

// drop gives up this mapping's bias, if the lock is biased to it (the
// mapping is going away). The caller holds s.local.
func (s *side) drop() {
	if s.id&lwTok != 0 {
		s.mu.CompareAndSwap(s.id|lwBiased, 0)
		s.ack.CompareAndSwap(s.id, 0)
	}
}

// settle finishes the work of a process that died inside a critical
// section of this side, or holding its lock, if one did: it takes the lock
// then (revoking a dead bias or taking over a dead holder) and reports
// whether the caller, who now holds it, must repair and release it. It
// never waits and never revokes a live holder's bias. The caller holds
// s.local.
func (s *side) settle() (held, repair bool) {
	w := s.mu.Load()
	switch {
	case w&lwBroken != 0 || w == 0 || w == lwWaiters:
		return false, false
	case w&lwBiased != 0:
		c := s.cs.Load()
		if c == 0 || aliveCached(c&lwProc) {
			return false, false
		}
	default:
		if aliveCached(w & lwProc) {
			return false, false
		}
	}
	if !s.mu.CompareAndSwap(w, s.id|w&lwWaiters) {
		return false, false
	}
	repair, err := s.acquired(context.Background(), w, w&lwBiased == 0)
	if err != nil {
		return false, false
	}
	s.biased = false
	return true, repair
}

// spinRounds is how many rounds of spinWait a waiter spins before it
// looks at the clock (about 5 µs of PAUSEs on this machine).
const spinRounds = spinwait.Rounds

// spinWait pauses a spinning waiter in round i, as lock.Mutex spins:
// PAUSE instructions first, more each round, then yielding the processor to
// other goroutines (the holder may be a goroutine of this process that needs
// the P).
func spinWait(i int) { spinwait.Round(i) }

// lowHalf returns the address of the low 32 bits of the 64-bit word at p:
// the futex word of a lock word.
func lowHalf(p unsafe.Pointer) *uint32 {
	if bigEndian {
		return (*uint32)(unsafe.Add(p, 4))
	}
	return (*uint32)(p)
}

var bigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()

// aliveCached is alive with a short memory of the last process found
// alive, so that Len on a busy queue reads /proc at most every 10 ms.
func aliveCached(w uint64) bool {
	aliveMemo.Lock()
	hit := aliveMemo.w == w && time.Since(aliveMemo.at) < 10*time.Millisecond
	aliveMemo.Unlock()
	if hit {
		return true
	}
	if !alive(w) {
		return false
	}
	aliveMemo.Lock()
	aliveMemo.w, aliveMemo.at = w, time.Now()
	aliveMemo.Unlock()
	return true
}

var aliveMemo struct {
	sync.Mutex
	w  uint64
	at time.Time
}
