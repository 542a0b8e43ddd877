package pool

import (
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/registry"
	"github.com/shmpar/shmpar/shm"
)

// Direct calls: a Map of a function whose input and result are flat types
// runs as one For of the team's own, on its hot path — the control block
// and its spinning workers — with no session, queue, dispatcher or
// encoding. The coordinator copies the inputs into a shared area, the
// workers run the tasks of their chunks there and write each result in
// place, and the coordinator copies the results out. Each task has a state
// word that the worker sets before it runs the task and after, so when a
// worker process dies the results it finished stay and the task it was
// running is known. Whatever a direct call cannot finish — tasks a dead
// worker held or never reached, tasks a worker left because its error
// journal was full or it does not have the function — runs through the
// session path, which has every answer to faults.
//
// The area's layout, all offsets from the start of the segment's data
// (page aligned):
//
//	0      header: magic "SHMPOOLD", version u32, slot count u32,
//	       journal offset and size per slot, data offset and size (u64s)
//	128    call line (written by the coordinator before each For): round
//	       u64, tasks u32, input size u32, result size u32, name length u32,
//	       offsets of the states, inputs and results in the data region,
//	       function name
//	512    slots, 128 bytes per participant: pid, round its counters
//	       belong to, tasks finished, journal entries and bytes, flags
//	…      journals: directJournal bytes per participant, entries in the
//	       wire format of task errors (appendWireErr)
//	…      data: the call's task states (u16 each), inputs, results
//
// A task's state is (participant+1)<<4 | kind, kind one of dsIdle (0: not
// started), dsRunning, dsDone, dsFailed (its error is in the journal of the
// participant that ran it).
const (
	directMagic   = "SHMPOOLD"
	directVersion = 1
	directCallOff = lineSize
	directSlotOff = 512
	// directJournal is each participant's error journal; an entry holds at
	// most directMsgMax bytes of message and directStackMax of stack (the
	// bounds of a team worker's error area), so a worker never runs a task
	// whose failure it could not record.
	directJournal  = 32 << 10
	directMsgMax   = 2 << 10
	directStackMax = 6 << 10
	directEntryMax = wireErrHdr + directMsgMax + directStackMax + 8
	// directMinData and directMaxData bound the data region: a Map larger
	// than directMaxData holds runs in windows of that size.
	directMinData = 64 << 10
	directMaxData = 32 << 20
	// directMaxTasks bounds the tasks of one window: a task state names its
	// window index in a journal entry as a u32.
	directMaxTasks = 1 << 30

	dsIdle    = 0
	dsRunning = 1
	dsDone    = 2
	dsFailed  = 3
	dsKind    = 0xf

	// slot flags: why a worker left tasks undone
	dfJournalFull = 1
	dfUnknownFunc = 2
	dfBadCall     = 4
	dfInitFailed  = 8 // the pool's initializer failed (see poolShared.initErr)

	cfProgress = 1
)

type directLayout struct {
	magic    [8]byte
	version  uint32
	nslots   uint32
	jrnlOff  uint64
	jrnlSize uint64
	dataOff  uint64
	dataSize uint64
}

type directCall struct {
	round    atomic.Uint64
	n        atomic.Uint32
	inSize   atomic.Uint32
	outSize  atomic.Uint32
	nameLen  atomic.Uint32
	stateOff atomic.Uint64
	inOff    atomic.Uint64
	outOff   atomic.Uint64
	flags    atomic.Uint32 // cfProgress
	name     [registry.MaxName]byte
}

// cfProgress (call line flags): the call reports progress, so workers
// publish their count of finished tasks after each one (directSlot.live).

type directSlotFields struct {
	pid    atomic.Int64
	round  atomic.Uint64 // the round the fields below belong to
	done   atomic.Uint64 // tasks finished (done or failed)
	nerr   atomic.Uint32 // journal entries
	jbytes atomic.Uint32 // journal bytes
	flags  atomic.Uint32
	live   atomic.Uint64 // tasks finished in the round so far (with cfProgress)
}

type directSlot struct {
	directSlotFields
	_ [lineSize - unsafe.Sizeof(directSlotFields{})]byte
}

// The call line must fit between the header and the slots.
const _ = uint(directSlotOff - directCallOff - unsafe.Sizeof(directCall{}))

// directArea is the shared area of a pool's direct calls, in the
// coordinator or (attached through the For's arguments) a worker process.
type directArea struct {
	seg   *shm.Segment
	lay   *directLayout
	call  *directCall
	slots []directSlot
	jrnl  []byte
	data  []byte
}

func directSize(nslots, dataSize int) int {
	return directSlotOff + nslots*lineSize + nslots*directJournal + dataSize
}

func newDirectArea(nslots, dataSize int) (*directArea, error) {
	size := directSize(nslots, dataSize)
	seg, err := shm.CreateAnon("shmpar-pool-direct", shm.Meta{DType: shm.Uint8, Shape: []int{size}, Kind: shm.KindRaw})
	if err != nil {
		return nil, err
	}
	d := seg.Data()
	l := (*directLayout)(unsafe.Pointer(&d[0]))
	copy(l.magic[:], directMagic)
	l.version, l.nslots = directVersion, uint32(nslots)
	l.jrnlOff = uint64(directSlotOff + nslots*lineSize)
	l.jrnlSize = directJournal
	l.dataOff = l.jrnlOff + uint64(nslots*directJournal)
	l.dataSize = uint64(dataSize)
	a, err := viewDirectArea(seg)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return a, nil
}

// viewDirectArea checks an area's layout (it may come from another process)
// and returns its typed view.
func viewDirectArea(seg *shm.Segment) (*directArea, error) {
	d := seg.Data()
	if len(d) < directSlotOff || uintptr(unsafe.Pointer(&d[0]))%64 != 0 {
		return nil, fmt.Errorf("pool: %s is not a direct-call area", seg.Path())
	}
	l := (*directLayout)(unsafe.Pointer(&d[0]))
	if string(l.magic[:]) != directMagic || l.version != directVersion {
		return nil, fmt.Errorf("pool: %s is not a direct-call area (magic %q, version %d)", seg.Path(), l.magic[:], l.version)
	}
	n := uint64(l.nslots)
	size := uint64(len(d))
	if n == 0 || n > engine.MaxWorkers || l.jrnlSize != directJournal ||
		l.jrnlOff != directSlotOff+n*lineSize || l.dataOff != l.jrnlOff+n*directJournal ||
		l.dataOff > size || l.dataSize > size-l.dataOff || l.dataOff%64 != 0 {
		return nil, fmt.Errorf("pool: direct-call area %s has a bad layout", seg.Path())
	}
	a := &directArea{seg: seg, lay: l, call: (*directCall)(unsafe.Pointer(&d[directCallOff]))}
	a.slots = unsafe.Slice((*directSlot)(unsafe.Pointer(&d[directSlotOff])), n)
	a.jrnl = d[l.jrnlOff:l.dataOff:l.dataOff]
	a.data = d[l.dataOff : l.dataOff+l.dataSize : l.dataOff+l.dataSize]
	return a, nil
}

// directScanMax is the largest window whose progress is counted from its
// task states; a larger one's from what the workers publish every 64 tasks.
const directScanMax = 1 << 16

// live counts the tasks finished so far in round, a window of m tasks whose
// states start at so, for the progress reports of a call with cfProgress:
// exactly, from the task states, in a window of at most directScanMax tasks
// (workers write a task's state when it ends, so even a slow task is seen
// at once); from the counts the workers publish every 64 tasks, in a
// larger one (whose tasks are many, and likely short).
func (a *directArea) live(round uint64, so, m int) int {
	if m <= directScanMax {
		n := 0
		for _, s := range a.states(so, m) {
			if k := s & dsKind; k == dsDone || k == dsFailed {
				n++
			}
		}
		return n
	}
	n := 0
	for i := range a.slots {
		if s := &a.slots[i]; s.round.Load() == round {
			n += int(s.live.Load())
		}
	}
	return n
}

// journal returns participant i's journal.
func (a *directArea) journal(i int) []byte {
	return a.jrnl[i*directJournal : (i+1)*directJournal : (i+1)*directJournal]
}

// Path names the area's segment; with GobEncode it makes *directArea a
// handle the team compares by identity (codec.Stable), so that the
// arguments of back-to-back direct calls are not encoded again.
func (a *directArea) Path() string { return a.seg.Path() }

// GobEncode encodes the area as a reference to its segment.
func (a *directArea) GobEncode() ([]byte, error) {
	if a == nil || a.seg == nil {
		return nil, errors.New("pool: encode of a nil direct-call area")
	}
	return shm.RefOf(a.seg).MarshalBinary()
}

// GobDecode attaches to the referenced area (shm.Attach: one mapping per
// process).
func (a *directArea) GobDecode(b []byte) error {
	seg, err := shm.AttachRef(b, shm.KindRaw, shm.Uint8)
	if err != nil {
		return fmt.Errorf("pool: attach direct-call area: %w", err)
	}
	v, err := viewDirectArea(seg)
	if err != nil {
		return err
	}
	*a = *v
	return nil
}

// directPlan places n tasks of the given sizes in a data region: the
// offsets of the states, inputs and results, and the bytes needed.
func directPlan(n, inSize, outSize int) (stateOff, inOff, outOff, end int) {
	up := func(x int) int { return (x + 63) &^ 63 }
	inOff = up(2 * n)
	outOff = up(inOff + n*inSize)
	end = up(outOff + n*outSize)
	return 0, inOff, outOff, end
}

// directWindow returns how many tasks of the sizes given fit a data region
// of size bytes (at least 1 if any does).
func directWindow(size, inSize, outSize int) int {
	per := 2 + inSize + outSize
	m := (size - 3*64) / per
	for m > 0 {
		if _, _, _, end := directPlan(m, inSize, outSize); end <= size {
			break
		}
		m--
	}
	return min(m, directMaxTasks)
}

// directDataSize is the data region a call of n tasks asks for: what it
// needs, as a power of two within [directMinData, directMaxData].
func directDataSize(n, inSize, outSize int) int {
	_, _, _, end := directPlan(min(n, directMaxTasks), inSize, outSize)
	if end >= directMaxData {
		return directMaxData
	}
	return max(directMinData, 1<<bits.Len(uint(end-1)))
}

// states views the task states of a window of n tasks.
func (a *directArea) states(off, n int) []uint16 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&a.data[off])), n)
}

// directTag is the state bits naming participant i.
func directTag(i int) uint16 { return uint16(i+1) << 4 }

// directOwner returns the participant a state names (-1 for none).
func directOwner(s uint16) int { return int(s>>4) - 1 }

// putDirectErr writes a task's failure into journal j after used bytes and
// returns the bytes used after it; the message and stack are cut to the
// journal's bounds.
func putDirectErr(j []byte, used int, e *wireErr) int {
	if len(e.msg) > directMsgMax {
		e.msg = e.msg[:directMsgMax-len(" [cut]")] + " [cut]"
	}
	if len(e.stack) > directStackMax {
		e.stack = e.stack[:directStackMax-len("\n[cut]")] + "\n[cut]"
	}
	n := wireErrHdr + len(e.msg) + len(e.stack)
	putWireErr(j[used:used+n], e)
	return used + n
}
