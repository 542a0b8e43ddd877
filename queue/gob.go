package queue

import (
	"errors"
	"fmt"

	"github.com/shmpar/shmpar/shm"
)

// GobEncode encodes the queue as a reference to its segment (kind, element
// type and path); no message is copied. This is how a Queue crosses to a
// worker process inside engine task arguments. An anonymous queue's path is
// valid only while the encoding process keeps the queue open.
func (q *Queue) GobEncode() ([]byte, error) {
	if q == nil || q.h.seg == nil || q.h.closing.Load() {
		return nil, errors.New("encode queue: nil or closed")
	}
	return shm.RefOf(q.h.seg).MarshalBinary()
}

// GobDecode attaches to the queue named by an encoded reference through
// shm.Attach: one mapping per process, shared by every Queue decoded from
// the same reference, which Close leaves mapped. As with arrays, a decoded
// Queue belongs to the call it was passed to and must not be kept after it
// (engine workers release unlinked segments between jobs). It returns an
// error wrapping ErrNotQueue for a reference to anything but a queue.
func (q *Queue) GobDecode(b []byte) error {
	seg, err := attachRef(b)
	if err != nil {
		return fmt.Errorf("decode queue: %w", err)
	}
	if q.h.seg != nil {
		return errors.New("decode queue: into a queue in use")
	}
	if err := q.init(seg, true); err != nil {
		return fmt.Errorf("decode queue: %w", err)
	}
	return nil
}

// attachRef decodes a segment reference and attaches to it, checking that
// it names a queue segment (uint8, KindQueue).
func attachRef(b []byte) (*shm.Segment, error) {
	var r shm.Ref
	if err := r.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if r.Kind != shm.KindQueue || r.DType != shm.Uint8 {
		return nil, fmt.Errorf("%w: %s refers to a %s %s segment", ErrNotQueue, r.Path, r.DType, r.Kind)
	}
	return shm.AttachRef(b, shm.KindQueue, shm.Uint8)
}

// GobEncode encodes the end as its number and a reference to the pipe's
// segment (see Queue.GobEncode). The receiving process gets this same end:
// encode the end the other process should use.
func (c *Conn) GobEncode() ([]byte, error) {
	if c == nil || c.h.seg == nil || c.h.closing.Load() {
		return nil, errors.New("encode pipe end: nil or closed")
	}
	ref, err := shm.RefOf(c.h.seg).MarshalBinary()
	if err != nil {
		return nil, err
	}
	// This process counts as a holder of the end until another process
	// attaches it, so that closing its own copy after handing the end over
	// does not look like the end's holders are gone.
	c.h.peers.pinFor(c.end)
	return append([]byte{'0' + byte(c.end)}, ref...), nil
}

// GobDecode attaches to the pipe end named by an encoded Conn (see
// Queue.GobDecode for the mapping's lifetime). It returns an error wrapping
// ErrNotQueue for anything but a pipe end.
func (c *Conn) GobDecode(b []byte) error {
	if len(b) < 1 || (b[0] != '0' && b[0] != '1') {
		return fmt.Errorf("decode pipe end: %w: not an encoded Conn", ErrNotQueue)
	}
	seg, err := attachRef(b[1:])
	if err != nil {
		return fmt.Errorf("decode pipe end: %w", err)
	}
	if c.h.seg != nil {
		return errors.New("decode pipe end: into a pipe end in use")
	}
	if err := c.init(seg, int(b[0]-'0'), nil); err != nil {
		return fmt.Errorf("decode pipe end: %w", err)
	}
	return nil
}

// GobEncode encodes the typed queue as its Queue (see Queue.GobEncode). The
// codec is not encoded: the decoded Typed uses GobCodec.
func (t *Typed[T]) GobEncode() ([]byte, error) {
	if t == nil || t.q == nil {
		return nil, errors.New("encode typed queue: nil")
	}
	return t.q.GobEncode()
}

// GobDecode attaches to the queue named by an encoded Typed (see
// Queue.GobDecode) and uses GobCodec for its values.
func (t *Typed[T]) GobDecode(b []byte) error {
	q := new(Queue)
	if err := q.GobDecode(b); err != nil {
		return err
	}
	t.q, t.codec = q, GobCodec{}
	return nil
}

// GobEncode encodes the typed end as its Conn (see Conn.GobEncode). The
// codec is not encoded: the decoded TypedConn uses GobCodec.
func (t *TypedConn[T]) GobEncode() ([]byte, error) {
	if t == nil || t.c == nil {
		return nil, errors.New("encode typed pipe end: nil")
	}
	return t.c.GobEncode()
}

// GobDecode attaches to the pipe end named by an encoded TypedConn (see
// Conn.GobDecode) and uses GobCodec for its values.
func (t *TypedConn[T]) GobDecode(b []byte) error {
	c := new(Conn)
	if err := c.GobDecode(b); err != nil {
		return err
	}
	t.c, t.codec = c, GobCodec{}
	return nil
}
