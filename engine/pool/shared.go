package pool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/shm"
)

// poolShared is a small shared segment beside the queues: a slot per
// participant, where its worker process records the task it runs, and a
// table of canceled calls that workers check between tasks.
//
//	0      header: magic "SHMPOOL1", slot count u32
//	64     result bell u32: bumped after every message put on the result queue
//	128    slots, 128 bytes each: cur (batch sequence << 24 | task index) and
//	       finished session (written by the worker); at +64 the task bell,
//	       bumped by the coordinator after every message to the worker
//	…      cancel table: poolCancelSlots call ids; call c is canceled when slot c % poolCancelSlots holds c
//
// The bells let a waiter poll one word, yielding the CPU between polls,
// before it blocks on the queue: cheaper than asking the queue.
type poolShared struct {
	seg     *shm.Segment
	resBell *atomic.Uint32
	slots   []poolSlot
	cancel  []atomic.Uint64
}

type poolSlot struct {
	cur      atomic.Uint64
	finished atomic.Uint64
	_        [48]byte
	taskBell atomic.Uint32
	_        [lineSize - 68]byte
}

const (
	poolMagic       = "SHMPOOL1"
	poolCancelSlots = 1024
	poolCurBits     = 24
)

func packCur(seq uint64, j int) uint64 { return seq<<poolCurBits | uint64(j) }

func unpackCur(c uint64) (seq uint64, j int) {
	return c >> poolCurBits, int(c & (1<<poolCurBits - 1))
}

func poolSharedSize(nslots int) int {
	return lineSize + nslots*lineSize + poolCancelSlots*8
}

func newPoolShared(nslots int) (*poolShared, error) {
	seg, err := shm.CreateAnon("shmpar-pool", shm.Meta{DType: shm.Uint8, Shape: []int{poolSharedSize(nslots)}, Kind: shm.KindRaw})
	if err != nil {
		return nil, err
	}
	d := seg.Data()
	copy(d, poolMagic)
	binary.LittleEndian.PutUint32(d[8:], uint32(nslots))
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
	if n <= 0 || n > engine.MaxWorkers || len(d) < poolSharedSize(n) || uintptr(unsafe.Pointer(&d[0]))%8 != 0 {
		return nil, fmt.Errorf("pool: segment %s has a bad layout", seg.Path())
	}
	s := &poolShared{seg: seg, resBell: (*atomic.Uint32)(unsafe.Pointer(&d[64]))}
	s.slots = unsafe.Slice((*poolSlot)(unsafe.Pointer(&d[lineSize])), n)
	s.cancel = unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&d[lineSize+n*lineSize])), poolCancelSlots)
	return s, nil
}

func (s *poolShared) canceled(call uint64) bool {
	return s.cancel[call%poolCancelSlots].Load() == call
}

func (s *poolShared) setCanceled(call uint64) { s.cancel[call%poolCancelSlots].Store(call) }

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
