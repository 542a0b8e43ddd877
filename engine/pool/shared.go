package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/registry"
	"github.com/shmpar/shmpar/shm"
)

// poolShared is a shared segment beside the queues: a slot per
// participant, where its worker process records the task it runs, a table
// of canceled calls that workers check between tasks, and a stage per
// participant where its worker journals each result as the task finishes.
//
//	0      header: magic "SHMPOOL2", slot count u32, stage size u32
//	64     result bell u32: bumped after every message put on the result queue
//	128    slots, 128 bytes each: cur (batch sequence << 24 | task index) and
//	       finished session (written by the worker); at +64 the task bell,
//	       bumped by the coordinator after every message to the worker
//	…      cancel table: poolCancelSlots call ids; call c is canceled when slot c % poolCancelSlots holds c
//	…      stages, stage size bytes each (see stage)
//	…      the pool: its id u64, the coordinator's pid u64, the initializer's
//	       name length u32 and arguments length u32, name, arguments
//
// The bells let a waiter poll one word, yielding the CPU between polls,
// before it blocks on the queue: cheaper than asking the queue.
type poolShared struct {
	seg     *shm.Segment
	resBell *atomic.Uint32
	slots   []poolSlot
	cancel  []atomic.Uint64
	stages  []byte
	stageSz int

	// Written once, before any worker sees the segment.
	pool  uint64
	coord int
	init  *initSpec // nil: no initializer
}

// A stage is where a worker builds the result message of the tasks of a
// batch it has run and not yet sent, one task at a time, so that the
// results survive the worker's death: the coordinator then reads them from
// the dead worker's stage (recoverStaged). Its layout:
//
//	0      control (stageCtl): the batch, the index of its first task
//	       staged, and how many results, payload bytes, error entries and
//	       error bytes are complete — each count raised only after what it
//	       counts is written
//	64     the journal: room for a message header (48 bytes), then the
//	       results — a flat type's raw bytes (then this is the message as it
//	       is sent when no task failed), or a gob message per result in a
//	       stream that starts with the run (see stageResult)
//	…      the error entries (stageErrsFor bytes), copied behind the
//	       payload when the message is sent
//
// Only the worker writes its stage; the coordinator reads it once the
// worker has died (or left its session), so the fields need no atomics.
type stageCtl struct {
	seq    uint64 // batch sequence number
	off    uint32 // index in the batch of the first staged result
	count  uint32 // results staged
	pbytes uint32 // payload bytes staged
	nerr   uint32 // error entries staged
	ebytes uint32 // error bytes staged
	flags  uint32 // sfNoJournal
}

const stageCtlSize = 64

// stageSizeFor returns the stage size of a pool whose queues hold qs
// bytes: a quarter of it, at most 256 KiB, a multiple of 64.
func stageSizeFor(qs int) int { return min(qs/4, 256<<10) &^ 63 }

// stageErrsFor is the part of a stage of size sz for error entries.
func stageErrsFor(sz int) int { return (sz / 4) &^ 7 }

// stage returns participant i's stage: its control, the message area
// (header and payload) and the error area.
func (s *poolShared) stage(i int) (*stageCtl, []byte, []byte) {
	b := s.stages[i*s.stageSz : (i+1)*s.stageSz : (i+1)*s.stageSz]
	e := stageErrsFor(s.stageSz)
	ctl := (*stageCtl)(unsafe.Pointer(&b[0]))
	return ctl, b[stageCtlSize : len(b)-e : len(b)-e], b[len(b)-e:]
}

type poolSlot struct {
	cur      atomic.Uint64
	finished atomic.Uint64
	initErr  atomic.Uint32 // bytes of the initializer's failure, in the stage's error area (0: none)
	_        [44]byte
	taskBell atomic.Uint32
	_        [lineSize - 68]byte
}

const (
	poolMagic       = "SHMPOOL2"
	poolCancelSlots = 1024
	poolCurBits     = 24
)

func packCur(seq uint64, j int) uint64 { return seq<<poolCurBits | uint64(j) }

func unpackCur(c uint64) (seq uint64, j int) {
	return c >> poolCurBits, int(c & (1<<poolCurBits - 1))
}

func poolSharedSize(nslots, stageSz int) int {
	return lineSize + nslots*lineSize + poolCancelSlots*8 + nslots*stageSz
}

// poolInfoSize is the size of the pool's part at the end of the segment.
func poolInfoSize(spec *initSpec) int {
	n := 24
	if spec != nil {
		n += len(spec.Name) + len(spec.Args)
	}
	return n
}

// minStage is the smallest stage: room for a message header, some payload
// and some error entries.
const minStage = 1 << 10

func newPoolShared(nslots, stageSz int, pool uint64, coord int, spec *initSpec) (*poolShared, error) {
	base := poolSharedSize(nslots, stageSz)
	seg, err := shm.CreateAnon("shmpar-pool", shm.Meta{DType: shm.Uint8, Shape: []int{base + poolInfoSize(spec)}, Kind: shm.KindRaw})
	if err != nil {
		return nil, err
	}
	d := seg.Data()
	copy(d, poolMagic)
	binary.LittleEndian.PutUint32(d[8:], uint32(nslots))
	binary.LittleEndian.PutUint32(d[12:], uint32(stageSz))
	info := d[base:]
	binary.LittleEndian.PutUint64(info[0:], pool)
	binary.LittleEndian.PutUint64(info[8:], uint64(coord))
	if spec != nil {
		binary.LittleEndian.PutUint32(info[16:], uint32(len(spec.Name)))
		binary.LittleEndian.PutUint32(info[20:], uint32(len(spec.Args)))
		copy(info[24:], spec.Name)
		copy(info[24+len(spec.Name):], spec.Args)
	}
	s, err := viewPoolShared(seg)
	if err != nil {
		seg.Close()
		return nil, err
	}
	return s, nil
}

// viewPoolShared checks a pool segment (it may come from another process)
// and returns its typed view.
func viewPoolShared(seg *shm.Segment) (*poolShared, error) {
	d := seg.Data()
	if len(d) < lineSize || string(d[:8]) != poolMagic {
		return nil, fmt.Errorf("pool: %s is not a pool segment", seg.Path())
	}
	n := int(binary.LittleEndian.Uint32(d[8:]))
	sz := int(binary.LittleEndian.Uint32(d[12:]))
	if n <= 0 || n > engine.MaxWorkers || sz < minStage || sz > 1<<30 || sz%64 != 0 ||
		len(d) < poolSharedSize(n, sz) || uintptr(unsafe.Pointer(&d[0]))%64 != 0 {
		return nil, fmt.Errorf("pool: segment %s has a bad layout", seg.Path())
	}
	s := &poolShared{seg: seg, resBell: (*atomic.Uint32)(unsafe.Pointer(&d[64])), stageSz: sz}
	s.slots = unsafe.Slice((*poolSlot)(unsafe.Pointer(&d[lineSize])), n)
	off := lineSize + n*lineSize
	s.cancel = unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&d[off])), poolCancelSlots)
	off += poolCancelSlots * 8
	s.stages = d[off : off+n*sz : off+n*sz]
	info := d[off+n*sz:]
	if len(info) < 24 {
		return nil, fmt.Errorf("pool: segment %s has a bad layout", seg.Path())
	}
	s.pool = binary.LittleEndian.Uint64(info[0:])
	s.coord = int(binary.LittleEndian.Uint64(info[8:]))
	nl, al := int(binary.LittleEndian.Uint32(info[16:])), int(binary.LittleEndian.Uint32(info[20:]))
	if nl > registry.MaxName || al > MaxInitArgs || 24+nl+al > len(info) {
		return nil, fmt.Errorf("pool: segment %s has a bad initializer record", seg.Path())
	}
	if nl > 0 {
		s.init = &initSpec{Name: string(info[24 : 24+nl]), Args: info[24+nl : 24+nl+al : 24+nl+al]}
	}
	return s, nil
}

func (s *poolShared) canceled(call uint64) bool {
	return s.cancel[call%poolCancelSlots].Load() == call
}

func (s *poolShared) setCanceled(call uint64) { s.cancel[call%poolCancelSlots].Store(call) }

// Path names the segment; with GobEncode it makes *poolShared a handle the
// team compares by identity (codec.Stable), so that a direct call's
// arguments are not encoded again from call to call.
func (s *poolShared) Path() string { return s.seg.Path() }

// putInitErr records in participant i's slot and stage that the pool's
// initializer failed there.
func (s *poolShared) putInitErr(i int, r *initResult) {
	_, _, errs := s.stage(i)
	e := r.wire()
	cutWireErr(&e, len(errs))
	n := wireErrHdr + len(e.msg) + len(e.stack)
	putWireErr(errs, &e)
	s.slots[i].initErr.Store(uint32(n))
}

// initErr returns the failure of the pool's initializer that participant i
// recorded, or nil.
func (s *poolShared) initErr(i, pid int) *InitError {
	n := int(s.slots[i].initErr.Load())
	if n == 0 || s.init == nil {
		return nil
	}
	_, _, errs := s.stage(i)
	wes, err := parseWireErrs(errs[:min(n, len(errs))], 1)
	if err != nil || len(wes) != 1 {
		return &InitError{Init: s.init.Name, Worker: i, Failure: engine.Failure{PID: pid, Err: errors.New("failed (its report is damaged)")}}
	}
	return initError(s.init.Name, i, pid, wes[0])
}

// GobEncode encodes the segment as a reference (it crosses to the worker
// processes in the pool server's arguments).
func (s *poolShared) GobEncode() ([]byte, error) {
	if s == nil || s.seg == nil {
		return nil, errors.New("pool: encode of a nil pool segment")
	}
	return shm.RefOf(s.seg).MarshalBinary()
}

// GobDecode attaches to the referenced pool segment (shm.Attach: one
// mapping per process).
func (s *poolShared) GobDecode(b []byte) error {
	seg, err := shm.AttachRef(b, shm.KindRaw, shm.Uint8)
	if err != nil {
		return fmt.Errorf("pool: attach segment: %w", err)
	}
	v, err := viewPoolShared(seg)
	if err != nil {
		return err
	}
	*s = *v
	return nil
}
