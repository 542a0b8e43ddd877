package engine

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// The control block is the only channel between the coordinator and its
// worker processes: an anonymous shared segment (a memfd, so nothing can
// leak in /dev/shm) that each worker inherits as fd 3 and maps. Its layout,
// all offsets from the start of the segment's data (page aligned):
//
//	0      header line   magic "SHMPARE2", version, slot count, the coordinator's
//	                     participants (1 with Primary), offsets/capacities   (written once)
//	128    post line     gen: futex word bumped once per job; sleepers: workers asleep
//	                     on it; coordCPU; claim: generation (24 bits) and next chunk
//	                     index (40 bits), claimed by CAS
//	256    job descriptor (3 lines): kind, schedule, n, [lo,hi), chunk size, first chunk,
//	       chunk count, participants, reduce flag, args id+length, kernel name and
//	       its version
//	640    done line     done: chunks completed by worker processes, counted up
//	                     across jobs; notify: futex word the coordinator sleeps on;
//	                     coordSleeping
//	768    stop line     stop code (none/failed/canceled/deadline); errOwner: first failing participant
//	4096   slots         one 128-byte slot per participant: pid, start time, hello,
//	                     inJob (generation it is working on), the chunk it claimed
//	                     and its generation, the claim word of its static block,
//	                     the progress word Ctx.Progress bumps
//	…      life words    one 4-byte word per participant: the worker's thread id,
//	                     with FUTEX_OWNER_DIED set by the kernel once it has exited
//	                     (see package life); written only then and at start, so
//	                     the coordinator reads them from its cache before each job
//	…      error areas   one per participant, errAreaSize bytes: kind, chunk, message, stack
//	…      rerun list    chunks to run again after a worker died: {lo, hi, partial index}
//	…      args area     the job's gob-encoded arguments (MaxArgs bytes)
//	…      partials      one 8-byte partial result per chunk of a reduction
//
// Every field that two processes touch is an atomic; hot words sit on their
// own 128-byte line (two 64-byte lines: the adjacent-line prefetcher pulls
// pairs) so that claiming a chunk does not disturb the words waited on.
//
// What a job costs is mostly cache-line transfers between CPUs (60-130 ns
// each on a virtual machine), so the post of a job touches as few lines as
// it can: the coordinator writes the generation and the claim word, which
// share the post line, and of the descriptor, the stop line and errOwner
// only the words whose value changes (a back-to-back job of the same
// kernel over the same range rewrites none of them). Workers count the
// chunks they finish on the done line without its being reset between
// jobs, and the coordinator counts its own (Primary) in its own memory; a
// worker reads the kernel's name only when its version changes. So a
// worker's job costs one miss on the post line and one transfer of the
// done line back to the coordinator.
const (
	lineSize     = 128
	pageSize     = 4096
	ctlVersion   = 3
	errAreaSize  = 8 << 10
	errMsgMax    = 2 << 10
	partialsCap  = 1 << 16
	headerSize   = pageSize
	slotSize     = lineSize
	listEntrySz  = int(unsafe.Sizeof(listEntry{}))
	noChunk      = int64(-1)
	helloReady   = 1
	jobRun       = 1
	jobExit      = 2
	errKindError = 1
	errKindPanic = 2
	errKindOther = 3
)

var ctlMagic = [8]byte{'S', 'H', 'M', 'P', 'A', 'R', 'E', '2'}

type layoutFields struct {
	magic   [8]byte
	version uint32
	nslots  uint32
	first   uint32 // participants run by the coordinator: 1 with Primary, else 0
	_       uint32
	size    uint64
	slotOff uint64
	lifeOff uint64
	errOff  uint64
	listOff uint64
	listCap uint64
	argsOff uint64
	argsCap uint64
	partOff uint64
	partCap uint64
}

type descFields struct {
	kind    atomic.Uint32
	sched   atomic.Uint32
	parts   atomic.Uint32 // participants
	kseq    atomic.Uint32 // version of name: bumped each time the coordinator writes it
	reduce  atomic.Uint32
	nameLen atomic.Uint32
	argsLen atomic.Uint32
	_       uint32
	argsID  atomic.Uint64
	n       atomic.Int64
	lo      atomic.Int64
	hi      atomic.Int64
	size    atomic.Int64
	first   atomic.Int64
	k       atomic.Int64
	name    [MaxKernelName]byte
}

type ctlHeader struct {
	layoutFields
	_ [lineSize - unsafe.Sizeof(layoutFields{})]byte

	// The post line. (Version 1 had the claim word on a line of its own:
	// one more line for the coordinator to take back from the workers, at
	// 60-130 ns, before each job.)
	gen      atomic.Uint32
	sleepers atomic.Int32
	coordCPU atomic.Int32 // the coordinator's CPU (Primary), recorded now and then; -1 unknown
	_        uint32
	claim    atomic.Uint64
	_        [lineSize - 24]byte

	desc descFields
	_    [3*lineSize - unsafe.Sizeof(descFields{})]byte

	done          atomic.Uint64 // chunks finished by worker processes, never reset
	notify        atomic.Uint32
	coordSleeping atomic.Uint32
	_             [lineSize - 16]byte

	stop     atomic.Uint32
	errOwner atomic.Int32
	_        [lineSize - 8]byte
}

type slotFields struct {
	pid      atomic.Int64
	start    atomic.Uint64
	hello    atomic.Uint32
	inJob    atomic.Uint32 // generation of the job this worker is in, 0 between jobs
	block    atomic.Uint32 // generation that claimed this participant's static block
	chunkGen atomic.Uint32 // generation of chunk
	chunk    atomic.Int64  // chunk claimed (tentatively) or running; noChunk when none
	moves    atomic.Uint32 // times the worker moved itself off a shared CPU (see placement.Crowding)
	cpu      atomic.Int32  // the CPU the worker was last seen on (worker.seen); -1 unknown
	sleep    atomic.Uint32 // how the worker waits for a job: sleepAwake, sleepHeld, sleepBlocked
	beat     atomic.Uint32 // bumped by Ctx.Progress, for the stall watch
}

type slot struct {
	slotFields
	_ [slotSize - unsafe.Sizeof(slotFields{})]byte
}

type errHeader struct {
	kind     uint32
	msgLen   uint32
	stackLen uint32
	sentinel uint32 // see sentinels
	lo, hi   int64
}

// control is a typed view of a control block.
type control struct {
	mem      []byte
	h        *ctlHeader
	slots    []slot
	life     []atomic.Uint32
	list     []listEntry
	args     []byte
	partials []uint64
}

// ctlLayout returns the size of a control block for nslots participants, of
// which the coordinator runs the first first, and argsCap bytes of
// arguments, and its offsets.
func ctlLayout(nslots, first, argsCap int) layoutFields {
	up := func(x int) int { return (x + pageSize - 1) &^ (pageSize - 1) }
	var l layoutFields
	l.magic, l.version, l.nslots, l.first = ctlMagic, ctlVersion, uint32(nslots), uint32(first)
	off := headerSize
	l.slotOff = uint64(off)
	off = up(off + nslots*slotSize)
	l.lifeOff = uint64(off)
	off = up(off + nslots*4)
	l.errOff = uint64(off)
	off += nslots * errAreaSize
	l.listOff, l.listCap = uint64(off), uint64(nslots)
	off = up(off + nslots*listEntrySz)
	l.argsOff, l.argsCap = uint64(off), uint64(argsCap)
	off = up(off + argsCap)
	l.partOff, l.partCap = uint64(off), partialsCap
	off += partialsCap * 8
	l.size = uint64(up(off))
	return l
}

// initControl writes the layout into a zeroed block and returns its view.
func initControl(mem []byte, l layoutFields) (*control, error) {
	if len(mem) < headerSize {
		return nil, fmt.Errorf("control block of %d bytes is too small", len(mem))
	}
	h := (*ctlHeader)(unsafe.Pointer(&mem[0]))
	h.layoutFields = l
	return viewControl(mem)
}

// viewControl checks a control block's layout (it comes from another
// process) and returns a typed view of it.
func viewControl(mem []byte) (*control, error) {
	if len(mem) < headerSize || uintptr(unsafe.Pointer(&mem[0]))%pageSize != 0 {
		return nil, fmt.Errorf("control block of %d bytes is too small or not page aligned", len(mem))
	}
	h := (*ctlHeader)(unsafe.Pointer(&mem[0]))
	l := h.layoutFields
	if l.magic != ctlMagic {
		return nil, fmt.Errorf("control block has bad magic %q", l.magic[:])
	}
	if l.version != ctlVersion {
		return nil, fmt.Errorf("control block version %d, want %d", l.version, ctlVersion)
	}
	size := uint64(len(mem))
	in := func(off, n uint64) bool { return off <= size && n <= size-off && off%8 == 0 }
	ns := uint64(l.nslots)
	if l.size > size || ns == 0 || ns > 1<<16 || l.first > 1 ||
		!in(l.slotOff, ns*slotSize) || !in(l.lifeOff, ns*4) || !in(l.errOff, ns*errAreaSize) ||
		l.listCap > 1<<16 || !in(l.listOff, l.listCap*uint64(listEntrySz)) ||
		l.argsCap > 1<<30 || !in(l.argsOff, l.argsCap) || l.partCap > 1<<24 || !in(l.partOff, l.partCap*8) {
		return nil, fmt.Errorf("control block layout does not fit its %d bytes", size)
	}
	c := &control{mem: mem, h: h}
	c.slots = unsafe.Slice((*slot)(unsafe.Pointer(&mem[l.slotOff])), ns)
	c.life = unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(&mem[l.lifeOff])), ns)
	if l.listCap > 0 {
		c.list = unsafe.Slice((*listEntry)(unsafe.Pointer(&mem[l.listOff])), l.listCap)
	}
	c.args = mem[l.argsOff : l.argsOff+l.argsCap : l.argsOff+l.argsCap]
	c.partials = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[l.partOff])), l.partCap)
	return c, nil
}

// errArea returns participant i's error area.
func (c *control) errArea(i int) []byte {
	off := int(c.h.errOff) + i*errAreaSize
	return c.mem[off : off+errAreaSize : off+errAreaSize]
}

// writeErr records a failure in participant i's error area.
func (c *control) writeErr(i int, kind, sentinel uint32, lo, hi int, msg, stack string) {
	a := c.errArea(i)
	hdr := (*errHeader)(unsafe.Pointer(&a[0]))
	body := a[unsafe.Sizeof(errHeader{}):]
	m := copy(body[:errMsgMax], msg)
	s := copy(body[m:], stack)
	*hdr = errHeader{kind: kind, msgLen: uint32(m), stackLen: uint32(s), sentinel: sentinel, lo: int64(lo), hi: int64(hi)}
}

// readErr reads participant i's error area (bounds checked: the writer is
// another process).
func (c *control) readErr(i int) (kind, sentinel uint32, lo, hi int, msg, stack string) {
	a := c.errArea(i)
	hdr := *(*errHeader)(unsafe.Pointer(&a[0]))
	body := a[unsafe.Sizeof(errHeader{}):]
	m := min(int(hdr.msgLen), errMsgMax, len(body))
	s := min(int(hdr.stackLen), len(body)-m)
	return hdr.kind, hdr.sentinel, int(hdr.lo), int(hdr.hi), string(body[:m]), string(body[m : m+s])
}

// kernelName returns the job descriptor's kernel name (bounded).
func (c *control) kernelName() []byte {
	n := min(int(c.h.desc.nameLen.Load()), MaxKernelName)
	return c.h.desc.name[:n]
}

// slotRec records a worker's chunks in its slot (see chunkRec).
type slotRec struct{ s *slot }

func (r slotRec) enter(gen uint32) { r.s.inJob.Store(gen) }
func (r slotRec) claim(gen uint32, ci int64) {
	r.s.chunkGen.Store(gen)
	r.s.chunk.Store(ci)
}
func (r slotRec) idle()  { r.s.chunk.Store(noChunk) }
func (r slotRec) leave() { r.s.inJob.Store(0) }
