package queue

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
)

// The peer table records which processes write each ring, so that a reader
// can tell "no message yet" from "no process left that could send one" (see
// doc.go, "Dead peers"). It lives in the lock area after the rings' control
// blocks: a 64-byte header, then slots of 16 bytes, one per process.
//
// A process is named by an owner word, as the robust lock names it: the low
// 32 bits hold the pid, the high 32 bits the low half of the process's start
// time, so a reused pid is not taken for the original.

// peerHdr is the header of a peer table. Index e of each pair is about ring
// e (for a queue only index 0 is used).
type peerHdr struct {
	// pin is the owner word of a process that gob-encoded end e of a pipe
	// for another process: it counts as a writer of ring e, while it lives,
	// until some other process attaches end e (so handing an end over and
	// closing one's own copy does not end the stream before the receiver
	// attached).
	pin [2]atomic.Uint64
	// deadWriters is set when the slot of a dead process that had been a
	// writer of ring e is reused: the evidence that some writer existed
	// outlives its slot.
	deadWriters [2]atomic.Uint32
	// untracked counts writers that found no free slot: while it is not
	// zero, no reader reports its writers gone.
	untracked [2]atomic.Uint32

	// JoinableQueue state (queues only; see join.go).
	done       atomic.Uint64 // TaskDone calls
	attributed atomic.Uint64 // gets counted in their taker's slot (n[1])
	joinWord   atomic.Uint32 // futex word Join sleeps on: sequence<<1 | sleepers
	_          [12]byte
}

// peerSlot is one process's entry: its owner word and, per ring, a writer
// word: the number of its handles that count as writers of the ring (low
// bits) and the wrote bit, set for good once it put into the ring. For a
// queue, n[1] instead counts, as an int32, the messages the process took
// from a joinable queue minus its TaskDone calls.
type peerSlot struct {
	owner atomic.Uint64
	n     [2]atomic.Uint32
}

const (
	wrote     = 1 << 31   // in a writer word: the process put into the ring
	countMask = wrote - 1 // in a writer word: handles counted as writers
)

const (
	peerHdrSize  = 64
	peerSlotSize = 16
	maxSlots     = 16
)

var (
	_ [peerHdrSize - unsafe.Sizeof(peerHdr{})]byte
	_ [unsafe.Sizeof(peerHdr{}) - peerHdrSize]byte
	_ [peerSlotSize - unsafe.Sizeof(peerSlot{})]byte
	_ [unsafe.Sizeof(peerSlot{}) - peerSlotSize]byte
)

// peers is a process's view of a peer table.
type peers struct {
	h     *peerHdr
	slots []peerSlot
	pipe  bool // a pipe's table: n[1] is about ring 1
}

// peersAt lays a peer table over b (the rest of the lock area after the
// rings' control blocks). It needs room for the header and one slot.
func peersAt(b []byte, pipe bool) (*peers, error) {
	n := (len(b) - peerHdrSize) / peerSlotSize
	if n < 1 {
		return nil, errNoPeerRoom
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%8 != 0 {
		return nil, errNoPeerRoom
	}
	return &peers{
		h:     (*peerHdr)(p),
		slots: unsafe.Slice((*peerSlot)(unsafe.Add(p, peerHdrSize)), min(n, maxSlots)),
		pipe:  pipe,
	}, nil
}

var errNoPeerRoom = errors.New("lock area has no room for the peer table")

// self is the owner word of this process.
var self = ownerWord(proc.Self())

func ownerWord(id proc.ID) uint64 {
	return uint64(uint32(id.Start))<<32 | uint64(uint32(id.PID))
}

// alive reports whether the process named by owner word w runs. A pid that
// no longer exists, a zombie, or a reused pid (another start time) is dead.
// When it cannot tell (no /proc, an unexpected error) it says alive: a
// writer is never declared gone on a guess.
func alive(w uint64) bool {
	if w == self {
		return true
	}
	pid, tag := int(uint32(w)), uint32(w>>32)
	if pid <= 0 {
		return false
	}
	st, err := proc.StartTime(pid)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH)
	}
	if uint32(st) != tag {
		return false
	}
	ok, err := proc.Alive(proc.ID{PID: pid, Start: st})
	return ok || err != nil
}

// register counts one more writer handle of ring e for this process and
// returns its slot, or -1 when the table is full (the writer is then
// counted as untracked).
func (p *peers) register(e int) int {
	i := p.slotOf()
	if i < 0 {
		if i = p.claim(); i < 0 {
			p.h.untracked[e].Add(1)
			return -1
		}
	}
	p.slots[i].n[e].Add(1)
	return i
}

// unregister undoes a register that returned slot i.
func (p *peers) unregister(e, i int) {
	if i < 0 {
		p.h.untracked[e].Add(^uint32(0))
		return
	}
	if p.slots[i].owner.Load() == self {
		p.slots[i].n[e].Add(^uint32(0))
	}
}

// wrote marks slot i's process as having put into ring e.
func (p *peers) markWrote(e, i int) {
	if i >= 0 && p.slots[i].owner.Load() == self {
		p.slots[i].n[e].Or(wrote)
	}
}

// slotOf returns the slot this process owns, or -1.
func (p *peers) slotOf() int {
	for i := range p.slots {
		if p.slots[i].owner.Load() == self {
			return i
		}
	}
	return -1
}

// claim takes a free slot, or the slot of a dead process, for this process
// and returns it with its counts at zero (-1 if none). That the dead
// process wrote is kept in the header (deadWriters); the tasks it had taken
// from a joinable queue and not marked done need no keeping: Join counts
// every taken task that no live process holds (see join.go).
func (p *peers) claim() int {
	for i := range p.slots {
		if p.slots[i].owner.Load() == 0 && p.slots[i].owner.CompareAndSwap(0, self) {
			return i
		}
	}
	for i := range p.slots {
		s := &p.slots[i]
		o := s.owner.Load()
		if o == self || alive(o) {
			continue
		}
		if s.owner.CompareAndSwap(o, self) {
			if s.n[0].Swap(0) != 0 {
				p.h.deadWriters[0].Store(1)
			}
			if s.n[1].Swap(0) != 0 && p.pipe {
				p.h.deadWriters[1].Store(1)
			}
			return i
		}
	}
	return -1
}

// pinFor records that this process hands end e to another process.
func (p *peers) pinFor(e int) { p.h.pin[e].Store(self) }

// attached clears the pin of end e when this process is not the one that
// set it: the end has arrived in another process.
func (p *peers) attached(e int) {
	if o := p.h.pin[e].Load(); o != 0 && o != self {
		p.h.pin[e].CompareAndSwap(o, 0)
	}
}

// gone reports whether ring e has no writer left, as a reader in this
// process sees it: some process other than this one is or was a writer
// (it holds or held a writer handle, or put into the ring), none is
// untracked or pinned, and every other process that holds a writer handle
// is dead. Without full it does not read /proc: it counts every registered
// writer and pin as alive, so it sees only writers that closed their
// handles. A process that is itself a writer never sees its ring gone.
func (p *peers) gone(e int, full bool) bool {
	h := p.h
	if h.untracked[e].Load() != 0 {
		return false
	}
	if o := h.pin[e].Load(); o != 0 && (!full || alive(o)) {
		return false
	}
	ever := h.deadWriters[e].Load() != 0
	var buf [maxSlots]uint64
	others := buf[:0] // other processes holding writer handles
	for i := range p.slots {
		s := &p.slots[i]
		o := s.owner.Load()
		if o == 0 {
			continue
		}
		w := s.n[e].Load()
		switch {
		case o == self:
			if w&countMask != 0 {
				return false
			}
		case w&countMask != 0:
			if !full {
				return false
			}
			others = append(others, o)
		case w&wrote != 0:
			ever = true
		}
	}
	for _, o := range others {
		if alive(o) {
			return false
		}
	}
	return ever || len(others) > 0
}
