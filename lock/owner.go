package lock

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
)

// An owner word names a process in 64 bits: the low half holds the pid (29
// bits, Linux pids are below 2^22) and three flag bits used by Mutex; the high
// half holds a tag of the process's incarnation, the low 32 bits of its start
// time. Mutex keeps this exact layout in its state word; Barrier keeps owner
// words (without flags) in its slots.
const (
	pidMask            uint32 = 1<<29 - 1
	flagNotRecoverable uint32 = 1 << 29
	flagInconsistent   uint32 = 1 << 30
	flagWaiters        uint32 = 1 << 31

	ownerMask uint64 = 0xFFFF_FFFF_0000_0000 | uint64(pidMask)
)

// self is the owner word of the calling process.
var self = ownerWord(proc.Self())

func ownerWord(id proc.ID) uint64 {
	return uint64(uint32(id.Start))<<32 | uint64(uint32(id.PID)&pidMask)
}

func ownerPID(w uint64) int { return int(uint32(w) & pidMask) }

// ownerAlive reports whether the process named by owner word w is running.
// A pid that no longer exists, a zombie, or a pid now used by a process with
// another start time (reuse) is dead. When liveness cannot be determined (no
// /proc, an unexpected error) the owner is taken to be alive: a live lock is
// never stolen.
func ownerAlive(w uint64) bool {
	pid := ownerPID(w)
	tag := uint32(w >> 32)
	if pid == 0 {
		return false
	}
	if uint64(pid) == self&uint64(pidMask) {
		return tag == uint32(self>>32)
	}
	st, err := proc.StartTime(pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return false
		}
		return true
	}
	if uint32(st) != tag {
		return false
	}
	alive, err := proc.Alive(proc.ID{PID: pid, Start: st})
	if err != nil {
		return true
	}
	return alive
}

// aliveCache remembers the last owner found alive by a non-blocking call
// (TryLock), so that a loop of failing TryLocks reads /proc at most once per
// aliveCacheTTL per owner instead of on every call.
var aliveCache struct {
	sync.Mutex
	owner uint64
	at    time.Time
}

const aliveCacheTTL = 10 * time.Millisecond

func ownerAliveCached(w uint64) bool {
	key := w & ownerMask
	if key == self {
		return true
	}
	aliveCache.Lock()
	hit := aliveCache.owner == key && time.Since(aliveCache.at) < aliveCacheTTL
	aliveCache.Unlock()
	if hit {
		return true
	}
	if !ownerAlive(key) {
		return false
	}
	aliveCache.Lock()
	aliveCache.owner, aliveCache.at = key, time.Now()
	aliveCache.Unlock()
	return true
}

// bigEndian is true on big-endian machines, where the low 32-bit half of a
// uint64 sits at byte offset 4.
var bigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0
}()

// lowHalf returns the address of the low 32 bits of the 64-bit word at p: the
// futex word of a 64-bit state.
func lowHalf(p unsafe.Pointer) *uint32 {
	if bigEndian {
		return (*uint32)(unsafe.Add(p, 4))
	}
	return (*uint32)(p)
}

// noCopy may be embedded in a struct that must not be copied after first use;
// go vet's copylocks check reports copies.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
