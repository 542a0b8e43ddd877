package queue

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shmpar/shmpar/shm"
)

// Conn is one end of a Pipe: a duplex connection to the other end, made of
// two rings in one shared segment (one per direction). Messages sent on one
// end are received, in order, on the other. Get a pair from NewPipe or
// NewPipeAnon; hand one end to another process by gob-encoding it (engine
// task arguments) or let that process OpenPipe it by name. Its methods may be
// called from several goroutines and processes (each direction is a full
// multi-producer, multi-consumer ring, with the same crash guarantees as a
// Queue). A Conn must not be copied; its zero value is not usable.
//
// Close only lets go of this process's handle: a parent that passes one end
// to a child may Close its own copy of that end without disturbing the
// child. To tell the peer that nothing more will be sent, call CloseWrite:
// the peer's Recv drains what was sent, then returns ErrClosed. If instead
// every process holding an end exits or closes it, the peer's Recv drains
// what was sent, then returns ErrPeerGone.
type Conn struct {
	h   handle
	tx  ring // rings[end]: what this end sends
	rx  ring // rings[1-end]: what this end receives
	end int
}

// NewPipe creates a pipe named name, whose two directions each buffer
// capacity bytes (see Create for what fits), and returns its two ends.
// End 0 sends to end 1 and end 1 to end 0.
func NewPipe(name string, capacity int, opts ...shm.Option) (*Conn, *Conn, error) {
	meta, err := ringMeta(capacity, 2)
	if err != nil {
		return nil, nil, fmt.Errorf("create pipe %s: %w", name, err)
	}
	seg, err := shm.Create(name, meta, opts...)
	if err != nil {
		return nil, nil, err // names the operation and the file
	}
	a, b, err := pipeEnds(seg)
	if err != nil {
		_ = seg.Unlink()
		return nil, nil, fmt.Errorf("create pipe %s: %w", name, err)
	}
	return a, b, nil
}

// NewPipeAnon creates an anonymous pipe (a memfd) and returns its two ends.
// Hand an end to another process by gob-encoding it while this process keeps
// the pipe open.
func NewPipeAnon(capacity int) (*Conn, *Conn, error) {
	meta, err := ringMeta(capacity, 2)
	if err != nil {
		return nil, nil, fmt.Errorf("create anonymous pipe: %w", err)
	}
	seg, err := shm.CreateAnon("pipe", meta)
	if err != nil {
		return nil, nil, err // names the operation
	}
	a, b, err := pipeEnds(seg)
	if err != nil {
		return nil, nil, fmt.Errorf("create anonymous pipe: %w", err)
	}
	return a, b, nil
}

// pipeEnds returns the two ends over seg. They share the mapping, which
// stays until both are closed, so that either end's Path stays valid while
// the other is open.
func pipeEnds(seg *shm.Segment) (*Conn, *Conn, error) {
	var refs atomic.Int32
	refs.Store(2)
	unmap := func() error {
		if refs.Add(-1) == 0 {
			return seg.Close()
		}
		return nil
	}
	a, err := newConn(seg, 0, unmap)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	b, err := newConn(seg, 1, unmap)
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return a, b, nil
}

// OpenPipe opens end end (0 or 1) of the pipe called name. It returns an
// error wrapping ErrNotQueue if the segment is not a pipe.
func OpenPipe(name string, end int, opts ...shm.Option) (*Conn, error) {
	if end != 0 && end != 1 {
		return nil, fmt.Errorf("open pipe %s: %w: end %d (want 0 or 1)", name, ErrNotQueue, end)
	}
	seg, err := shm.Open(name, opts...)
	if err != nil {
		return nil, err // names the operation and the file
	}
	c, err := newConn(seg, end, seg.Close)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("open pipe %s: %w", name, err)
	}
	return c, nil
}

// newConn makes end end of the pipe in seg; unmap lets go of seg on Close
// (nil for a segment from the shm.Attach cache).
func newConn(seg *shm.Segment, end int, unmap func() error) (*Conn, error) {
	c := &Conn{}
	if err := c.init(seg, end, unmap); err != nil {
		return nil, err
	}
	return c, nil
}

// init makes c a handle of end end of the pipe in seg, and registers it as
// a writer of its sending ring.
func (c *Conn) init(seg *shm.Segment, end int, unmap func() error) error {
	size, _, err := checkRings(seg, 2)
	if err != nil {
		return err
	}
	var ctls [2]*ctl
	for i := range ctls {
		if ctls[i], err = ctlAt(seg.Locks(), i); err != nil {
			return err
		}
	}
	ps, err := peersAt(seg.Locks()[2*ctlSize:], true)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotQueue, err)
	}
	data := seg.Data()
	c.end = end
	c.h.seg, c.h.unmap, c.h.peers = seg, unmap, ps
	c.h.words = []*atomic.Uint32{&ctls[0].neWord, &ctls[0].nfWord, &ctls[1].neWord, &ctls[1].nfWord}
	rings := [2][]byte{data[:size:size], data[size : 2*size : 2*size]}
	c.h.m = mappingFor(seg, ctls[:])
	c.tx.init(ctls[end], rings[end], &c.h, end, true, c.h.m)
	c.rx.init(ctls[1-end], rings[1-end], &c.h, 1-end, true, c.h.m)
	// An end writes its sending ring from the moment it exists, as a
	// process that holds a pipe's write descriptor does.
	ps.attached(end)
	c.h.attach(end)
	return nil
}

// wrap adds the operation and the end to an error: "send on pipe p end 0:
// ...", "receive on anonymous pipe end 1: ...".
func (c *Conn) wrap(op string, err error) error {
	var seg *shm.Segment
	if c != nil {
		seg = c.h.seg
	}
	return fmt.Errorf("%s %s end %d: %w", op, describe(seg, "pipe"), c.end, err)
}

// Send sends a copy of msg to the other end, waiting while its direction's
// ring is full; see Queue.Put for the errors (ErrFull with ctx's error,
// ErrClosed after this end's CloseWrite, ErrTooLarge). While it waits for
// room it returns an error wrapping ErrPeerGone if every holder of the
// other end is gone.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	if err := c.h.check(); err != nil {
		return c.wrap("send on", err)
	}
	if err := c.tx.put(ctx, msg, true); err != nil {
		return c.wrap("send on", err)
	}
	return nil
}

// TrySend is Send without waiting: ErrFull when there is no room now.
func (c *Conn) TrySend(msg []byte) error {
	if err := c.h.check(); err != nil {
		return c.wrap("send on", err)
	}
	if err := c.tx.put(context.Background(), msg, false); err != nil {
		return c.wrap("send on", err)
	}
	return nil
}

// Recv receives the next message from the other end, waiting until one
// arrives. If ctx ends first it returns an error wrapping ErrEmpty and
// ctx.Err(); after the other end's CloseWrite, once every message sent
// before it was received, it returns an error wrapping ErrClosed. When
// every process that held the other end exited, was killed or closed it
// without CloseWrite, it returns, once every message they sent was
// received, an error wrapping ErrPeerGone (Python's EOFError; see the
// package documentation, Dead peers).
func (c *Conn) Recv(ctx context.Context) ([]byte, error) {
	if err := c.h.check(); err != nil {
		return nil, c.wrap("receive on", err)
	}
	msg, err := c.rx.get(ctx, nil, true, true)
	if err != nil {
		return nil, c.wrap("receive on", err)
	}
	return msg, nil
}

// RecvAppend is Recv that appends the message to dst and returns the
// extended slice (no allocation when dst has room). On error it returns dst
// unchanged.
func (c *Conn) RecvAppend(ctx context.Context, dst []byte) ([]byte, error) {
	if err := c.h.check(); err != nil {
		return dst, c.wrap("receive on", err)
	}
	out, err := c.rx.get(ctx, dst, true, false)
	if err != nil {
		return dst, c.wrap("receive on", err)
	}
	return out, nil
}

// TryRecv is Recv without waiting: ErrEmpty when nothing is there now
// (ErrClosed when, besides, the other end closed its direction).
func (c *Conn) TryRecv() ([]byte, error) {
	if err := c.h.check(); err != nil {
		return nil, c.wrap("receive on", err)
	}
	msg, err := c.rx.get(context.Background(), nil, false, true)
	if err != nil {
		return nil, c.wrap("receive on", err)
	}
	return msg, nil
}

// Buffered returns the number of messages waiting to be received at this
// end (like Python's Connection.poll, without the wait).
func (c *Conn) Buffered() int {
	if c.h.acquire() != nil {
		return 0
	}
	defer c.h.release()
	return c.rx.length()
}

// CloseWrite closes this end's sending direction for every process: later
// Sends on this end return ErrClosed, and the other end receives what was
// sent and then ErrClosed. The other direction is untouched (a half-close,
// like TCP's). Closing twice does nothing.
func (c *Conn) CloseWrite() error {
	if err := c.h.acquire(); err != nil {
		return c.wrap("close the sending side of", err)
	}
	defer c.h.release()
	if err := c.tx.closeWrite(); err != nil {
		return c.wrap("close the sending side of", err)
	}
	return nil
}

// Close releases this process's handle of this end (see Queue.Close); the
// pipe and the other end are untouched. It is idempotent.
func (c *Conn) Close() error {
	if err := c.h.close(); err != nil {
		return c.wrap("close handle of", err)
	}
	return nil
}

// Unlink removes the pipe's name; ends already open keep working. For an
// anonymous pipe it does nothing.
func (c *Conn) Unlink() error {
	if c.h.seg == nil {
		return c.wrap("unlink", errHandleClosed)
	}
	if err := c.h.seg.Unlink(); err != nil {
		return err // names the operation and the file
	}
	return nil
}

// End returns which end this is, 0 or 1.
func (c *Conn) End() int { return c.end }

// Name returns the pipe's name (for an anonymous pipe, "pipe").
func (c *Conn) Name() string { return c.h.seg.Name() }

// Path returns the file path of the pipe's segment (see Queue.Path).
func (c *Conn) Path() string { return c.h.seg.Path() }
