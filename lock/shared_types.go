package lock

import "fmt"

// The Shared types: a primitive in a segment of its own, which crosses to
// other processes. Their common code is in shared.go.

// SharedMutex is a Mutex in an anonymous segment of its own, and a reference
// to it that can be passed to other processes: in the arguments of a process,
// a pool task or a For kernel, or through any encoding/gob stream. The Mutex's
// methods are the handle's. NewMutex makes one; in the receiving process the
// decoded handle is the same Mutex. It is what Python's multiprocessing.Lock()
// returns.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedMutex must not be copied;
// pass the pointer.
type SharedMutex struct {
	*Mutex
	h handle
}

// NewMutex returns an unlocked Mutex, in an anonymous segment of its own (a
// memfd, freed when the last process that maps it lets go). It fails, with an
// error wrapping errors.ErrUnsupported, where anonymous segments are not
// supported.
func NewMutex() (*SharedMutex, error) {
	p, seg, err := newPrimitive[Mutex]("mutex")
	if err != nil {
		return nil, err
	}
	x := &SharedMutex{Mutex: p}
	x.h.seg, x.h.owned = seg, true
	return x, nil
}

// Close releases the segment of a handle returned by NewMutex: the Mutex must
// not be used through this process's handle afterwards, and it can no longer
// be passed to another process, while processes that decoded it keep using it.
// On a decoded handle Close does nothing but forbid encoding it again. Close
// is idempotent.
func (x *SharedMutex) Close() error {
	err := x.h.close("mutex")
	if x.h.owned {
		x.Mutex = nil
	}
	return err
}

// Path returns the path of the segment the Mutex lives in (for an anonymous
// segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedMutex) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the Mutex's segment and its
// offset there; the Mutex itself is not copied.
func (x *SharedMutex) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode mutex: nil")
	}
	return x.h.encode("mutex")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// Mutex. Bytes that are not an encoded SharedMutex give an error wrapping
// ErrInvalid; a segment that is gone (its creator closed it or exited) gives
// one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedMutex) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[Mutex]("mutex", b)
	if err != nil {
		return err
	}
	x.Mutex = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a Mutex is the lock's memory, not a reference to
// it, and cannot be passed to another process. Pass a *SharedMutex (NewMutex)
// instead.
func (*Mutex) GobEncode() ([]byte, error) {
	return nil, errMemory("mutex", "SharedMutex", "NewMutex")
}

// SharedRWMutex is a RWMutex in an anonymous segment of its own, and a
// reference to it that can be passed to other processes: in the arguments of a
// process, a pool task or a For kernel, or through any encoding/gob stream.
// The RWMutex's methods are the handle's. NewRWMutex makes one; in the
// receiving process the decoded handle is the same RWMutex.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedRWMutex must not be
// copied; pass the pointer.
type SharedRWMutex struct {
	*RWMutex
	h handle
}

// NewRWMutex returns an unlocked RWMutex, in an anonymous segment of its own
// (a memfd, freed when the last process that maps it lets go). It fails, with
// an error wrapping errors.ErrUnsupported, where anonymous segments are not
// supported.
func NewRWMutex() (*SharedRWMutex, error) {
	p, seg, err := newPrimitive[RWMutex]("rwmutex")
	if err != nil {
		return nil, err
	}
	x := &SharedRWMutex{RWMutex: p}
	x.h.seg, x.h.owned = seg, true
	return x, nil
}

// Close releases the segment of a handle returned by NewRWMutex: the RWMutex
// must not be used through this process's handle afterwards, and it can no
// longer be passed to another process, while processes that decoded it keep
// using it. On a decoded handle Close does nothing but forbid encoding it
// again. Close is idempotent.
func (x *SharedRWMutex) Close() error {
	err := x.h.close("rwmutex")
	if x.h.owned {
		x.RWMutex = nil
	}
	return err
}

// Path returns the path of the segment the RWMutex lives in (for an anonymous
// segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedRWMutex) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the RWMutex's segment and its
// offset there; the RWMutex itself is not copied.
func (x *SharedRWMutex) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode rwmutex: nil")
	}
	return x.h.encode("rwmutex")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// RWMutex. Bytes that are not an encoded SharedRWMutex give an error wrapping
// ErrInvalid; a segment that is gone (its creator closed it or exited) gives
// one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedRWMutex) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[RWMutex]("rwmutex", b)
	if err != nil {
		return err
	}
	x.RWMutex = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a RWMutex is the lock's memory, not a reference
// to it, and cannot be passed to another process. Pass a *SharedRWMutex
// (NewRWMutex) instead.
func (*RWMutex) GobEncode() ([]byte, error) {
	return nil, errMemory("rwmutex", "SharedRWMutex", "NewRWMutex")
}

// SharedSemaphore is a Semaphore in an anonymous segment of its own, and a
// reference to it that can be passed to other processes: in the arguments of a
// process, a pool task or a For kernel, or through any encoding/gob stream.
// The Semaphore's methods are the handle's. NewSemaphore makes one; in the
// receiving process the decoded handle is the same Semaphore. It is what
// Python's multiprocessing.Semaphore() returns.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedSemaphore must not be
// copied; pass the pointer.
type SharedSemaphore struct {
	*Semaphore
	h handle
}

// NewSemaphore returns a Semaphore initialized with Init(count, bound), in an
// anonymous segment of its own (a memfd, freed when the last process that maps
// it lets go). It fails, with an error wrapping errors.ErrUnsupported, where
// anonymous segments are not supported.
func NewSemaphore(count, bound int) (*SharedSemaphore, error) {
	p, seg, err := newPrimitive[Semaphore]("semaphore")
	if err != nil {
		return nil, err
	}
	x := &SharedSemaphore{Semaphore: p}
	x.h.seg, x.h.owned = seg, true
	if err := p.Init(count, bound); err != nil {
		_ = x.h.close("semaphore")
		return nil, fmt.Errorf("new semaphore: %w", err)
	}
	return x, nil
}

// Close releases the segment of a handle returned by NewSemaphore: the
// Semaphore must not be used through this process's handle afterwards, and it
// can no longer be passed to another process, while processes that decoded it
// keep using it. On a decoded handle Close does nothing but forbid encoding it
// again. Close is idempotent.
func (x *SharedSemaphore) Close() error {
	err := x.h.close("semaphore")
	if x.h.owned {
		x.Semaphore = nil
	}
	return err
}

// Path returns the path of the segment the Semaphore lives in (for an
// anonymous segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedSemaphore) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the Semaphore's segment and
// its offset there; the Semaphore itself is not copied.
func (x *SharedSemaphore) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode semaphore: nil")
	}
	return x.h.encode("semaphore")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// Semaphore. Bytes that are not an encoded SharedSemaphore give an error
// wrapping ErrInvalid; a segment that is gone (its creator closed it or
// exited) gives one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedSemaphore) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[Semaphore]("semaphore", b)
	if err != nil {
		return err
	}
	x.Semaphore = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a Semaphore is the lock's memory, not a
// reference to it, and cannot be passed to another process. Pass a
// *SharedSemaphore (NewSemaphore) instead.
func (*Semaphore) GobEncode() ([]byte, error) {
	return nil, errMemory("semaphore", "SharedSemaphore", "NewSemaphore")
}

// SharedEvent is a Event in an anonymous segment of its own, and a reference
// to it that can be passed to other processes: in the arguments of a process,
// a pool task or a For kernel, or through any encoding/gob stream. The Event's
// methods are the handle's. NewEvent makes one; in the receiving process the
// decoded handle is the same Event. It is what Python's
// multiprocessing.Event() returns.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedEvent must not be copied;
// pass the pointer.
type SharedEvent struct {
	*Event
	h handle
}

// NewEvent returns a clear Event, in an anonymous segment of its own (a memfd,
// freed when the last process that maps it lets go). It fails, with an error
// wrapping errors.ErrUnsupported, where anonymous segments are not supported.
func NewEvent() (*SharedEvent, error) {
	p, seg, err := newPrimitive[Event]("event")
	if err != nil {
		return nil, err
	}
	x := &SharedEvent{Event: p}
	x.h.seg, x.h.owned = seg, true
	return x, nil
}

// Close releases the segment of a handle returned by NewEvent: the Event must
// not be used through this process's handle afterwards, and it can no longer
// be passed to another process, while processes that decoded it keep using it.
// On a decoded handle Close does nothing but forbid encoding it again. Close
// is idempotent.
func (x *SharedEvent) Close() error {
	err := x.h.close("event")
	if x.h.owned {
		x.Event = nil
	}
	return err
}

// Path returns the path of the segment the Event lives in (for an anonymous
// segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedEvent) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the Event's segment and its
// offset there; the Event itself is not copied.
func (x *SharedEvent) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode event: nil")
	}
	return x.h.encode("event")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// Event. Bytes that are not an encoded SharedEvent give an error wrapping
// ErrInvalid; a segment that is gone (its creator closed it or exited) gives
// one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedEvent) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[Event]("event", b)
	if err != nil {
		return err
	}
	x.Event = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a Event is the lock's memory, not a reference to
// it, and cannot be passed to another process. Pass a *SharedEvent (NewEvent)
// instead.
func (*Event) GobEncode() ([]byte, error) {
	return nil, errMemory("event", "SharedEvent", "NewEvent")
}

// SharedBarrier is a Barrier in an anonymous segment of its own, and a
// reference to it that can be passed to other processes: in the arguments of a
// process, a pool task or a For kernel, or through any encoding/gob stream.
// The Barrier's methods are the handle's. NewBarrier makes one; in the
// receiving process the decoded handle is the same Barrier. It is what
// Python's multiprocessing.Barrier() returns.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedBarrier must not be
// copied; pass the pointer.
type SharedBarrier struct {
	*Barrier
	h handle
}

// NewBarrier returns a Barrier initialized with Init(parties), in an anonymous
// segment of its own (a memfd, freed when the last process that maps it lets
// go). It fails, with an error wrapping errors.ErrUnsupported, where anonymous
// segments are not supported.
func NewBarrier(parties int) (*SharedBarrier, error) {
	p, seg, err := newPrimitive[Barrier]("barrier")
	if err != nil {
		return nil, err
	}
	x := &SharedBarrier{Barrier: p}
	x.h.seg, x.h.owned = seg, true
	if err := p.Init(parties); err != nil {
		_ = x.h.close("barrier")
		return nil, fmt.Errorf("new barrier: %w", err)
	}
	return x, nil
}

// Close releases the segment of a handle returned by NewBarrier: the Barrier
// must not be used through this process's handle afterwards, and it can no
// longer be passed to another process, while processes that decoded it keep
// using it. On a decoded handle Close does nothing but forbid encoding it
// again. Close is idempotent.
func (x *SharedBarrier) Close() error {
	err := x.h.close("barrier")
	if x.h.owned {
		x.Barrier = nil
	}
	return err
}

// Path returns the path of the segment the Barrier lives in (for an anonymous
// segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedBarrier) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the Barrier's segment and its
// offset there; the Barrier itself is not copied.
func (x *SharedBarrier) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode barrier: nil")
	}
	return x.h.encode("barrier")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// Barrier. Bytes that are not an encoded SharedBarrier give an error wrapping
// ErrInvalid; a segment that is gone (its creator closed it or exited) gives
// one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedBarrier) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[Barrier]("barrier", b)
	if err != nil {
		return err
	}
	x.Barrier = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a Barrier is the lock's memory, not a reference
// to it, and cannot be passed to another process. Pass a *SharedBarrier
// (NewBarrier) instead.
func (*Barrier) GobEncode() ([]byte, error) {
	return nil, errMemory("barrier", "SharedBarrier", "NewBarrier")
}

// SharedRLock is a RLock in an anonymous segment of its own, and a reference
// to it that can be passed to other processes: in the arguments of a process,
// a pool task or a For kernel, or through any encoding/gob stream. The RLock's
// methods are the handle's. NewRLock makes one; in the receiving process the
// decoded handle is the same RLock. It is what Python's
// multiprocessing.RLock() returns.
//
// The creating process must keep the handle open (not Close it) until every
// process it was passed to has decoded it: a process started with
// engine/process has once Start returned; the workers of a pool or a team,
// once the Map or For returned. In a process started with engine/process a
// decoded handle stays usable as long as that process lives. In a pool or team
// worker it belongs to the call it was passed to and must not be kept after
// it, as with arrays: between calls the workers unmap the segments whose
// creator closed them (shm.ReleaseUnlinked). A SharedRLock must not be copied;
// pass the pointer.
type SharedRLock struct {
	*RLock
	h handle
}

// NewRLock returns an unlocked RLock, in an anonymous segment of its own (a
// memfd, freed when the last process that maps it lets go). It fails, with an
// error wrapping errors.ErrUnsupported, where anonymous segments are not
// supported.
func NewRLock() (*SharedRLock, error) {
	p, seg, err := newPrimitive[RLock]("rlock")
	if err != nil {
		return nil, err
	}
	x := &SharedRLock{RLock: p}
	x.h.seg, x.h.owned = seg, true
	return x, nil
}

// Close releases the segment of a handle returned by NewRLock: the RLock must
// not be used through this process's handle afterwards, and it can no longer
// be passed to another process, while processes that decoded it keep using it.
// On a decoded handle Close does nothing but forbid encoding it again. Close
// is idempotent.
func (x *SharedRLock) Close() error {
	err := x.h.close("rlock")
	if x.h.owned {
		x.RLock = nil
	}
	return err
}

// Path returns the path of the segment the RLock lives in (for an anonymous
// segment, "/proc/<pid>/fd/<fd>" of the process that created it).
func (x *SharedRLock) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the RLock's segment and its
// offset there; the RLock itself is not copied.
func (x *SharedRLock) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode rlock: nil")
	}
	return x.h.encode("rlock")
}

// GobDecode attaches to the segment named by an encoded handle (through
// shm.AttachRef: one mapping per process) and makes x a handle to the same
// RLock. Bytes that are not an encoded SharedRLock give an error wrapping
// ErrInvalid; a segment that is gone (its creator closed it or exited) gives
// one wrapping shm.ErrNotExist or fs.ErrNotExist.
func (x *SharedRLock) GobDecode(b []byte) error {
	p, seg, err := decodeHandle[RLock]("rlock", b)
	if err != nil {
		return err
	}
	x.RLock = p
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a RLock is the lock's memory, not a reference to
// it, and cannot be passed to another process. Pass a *SharedRLock (NewRLock)
// instead.
func (*RLock) GobEncode() ([]byte, error) {
	return nil, errMemory("rlock", "SharedRLock", "NewRLock")
}

// SharedCond is a Cond and the Mutex that goes with it (L), both in an
// anonymous segment of their own, and a reference to them that can be passed
// to other processes like the other Shared types (see SharedMutex for the
// lifetime rules). The Cond's methods are the handle's: wait with
// c.Wait(c.L) while holding c.L. It is what Python's
// multiprocessing.Condition() returns, with a Mutex for its lock.
type SharedCond struct {
	*Cond
	L *Mutex // the Mutex of the Cond's waiters, in the same segment
	h handle
}

// condMutexOff is where a SharedCond's Mutex sits in its segment's lock
// area, right after the Cond.
const condMutexOff = CondSize

// NewCond returns a Cond with no waiters and its unlocked Mutex, in an
// anonymous segment of their own. It fails, with an error wrapping
// errors.ErrUnsupported, where anonymous segments are not supported.
func NewCond() (*SharedCond, error) {
	c, seg, err := newPrimitive[Cond]("cond")
	if err != nil {
		return nil, err
	}
	x := &SharedCond{Cond: c}
	x.h.seg, x.h.owned = seg, true
	if x.L, err = Place[Mutex](seg.Locks(), condMutexOff); err != nil {
		_ = x.h.close("cond")
		return nil, fmt.Errorf("new cond: %w", err)
	}
	return x, nil
}

// Close releases the segment of a handle returned by NewCond; see
// SharedMutex.Close.
func (x *SharedCond) Close() error {
	err := x.h.close("cond")
	if x.h.owned {
		x.Cond, x.L = nil, nil
	}
	return err
}

// Path returns the path of the segment the Cond lives in.
func (x *SharedCond) Path() string { return x.h.path() }

// GobEncode encodes the handle as a reference to the segment of the Cond and
// its Mutex; neither is copied.
func (x *SharedCond) GobEncode() ([]byte, error) {
	if x == nil {
		return nil, fmt.Errorf("encode cond: nil")
	}
	return x.h.encode("cond")
}

// GobDecode attaches to the segment named by an encoded SharedCond and makes
// x a handle to the same Cond and Mutex; see SharedMutex.GobDecode.
func (x *SharedCond) GobDecode(b []byte) error {
	seg, off, err := decodeRef("cond", b)
	if err != nil {
		return fmt.Errorf("decode cond: %w", err)
	}
	c, err := Place[Cond](seg.Locks(), off)
	if err != nil {
		return fmt.Errorf("decode cond: %w", err)
	}
	m, err := Place[Mutex](seg.Locks(), off+condMutexOff)
	if err != nil {
		return fmt.Errorf("decode cond: %w", err)
	}
	x.Cond, x.L = c, m
	x.h.decoded(seg)
	return nil
}

// GobEncode returns an error: a Cond is memory, not a reference to it, and
// cannot be passed to another process. Pass a *SharedCond (NewCond) instead.
func (*Cond) GobEncode() ([]byte, error) {
	return nil, errMemory("cond", "SharedCond", "NewCond")
}
