package queue

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
)

// Codec turns values into messages and back. Marshal must return a slice
// the caller may keep; Unmarshal decodes into the pointer v. Every message
// is encoded on its own (it may be taken by any consumer), so a codec must
// not carry state from one message to the next.
type Codec interface {
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// GobCodec is the default Codec: each message is a complete encoding/gob
// stream (type description, then the value), so any consumer can decode any
// message. It encodes what gob encodes: exported fields, no channels or
// functions; interface values need gob.Register. Each message carries its
// type description, tens of bytes for a small struct; use JSONCodec or your
// own Codec when that matters.
type GobCodec struct{}

// Marshal encodes v as a gob stream.
func (GobCodec) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unmarshal decodes a gob stream written by Marshal into v.
func (GobCodec) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// JSONCodec is a Codec using encoding/json, for messages read by programs
// in other languages.
type JSONCodec struct{}

// Marshal encodes v as JSON.
func (JSONCodec) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes JSON into v.
func (JSONCodec) Unmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// Typed is a Queue of values of type T, each encoded as one message by a
// Codec (GobCodec unless NewTyped is given another). It has the Queue's
// ordering, blocking and crash guarantees; a value that cannot be encoded is
// an error at Put, and nothing is stored. All processes using one queue must
// use the same T and Codec. Its methods may be called from several
// goroutines.
type Typed[T any] struct {
	q     *Queue
	codec Codec
}

// NewTyped returns a typed view of q using codec (GobCodec when nil). The
// Typed does not own q: closing q closes it.
func NewTyped[T any](q *Queue, codec Codec) *Typed[T] {
	if codec == nil {
		codec = GobCodec{}
	}
	return &Typed[T]{q: q, codec: codec}
}

// Queue returns the underlying byte queue.
func (t *Typed[T]) Queue() *Queue { return t.q }

func (t *Typed[T]) encode(v T) ([]byte, error) {
	b, err := t.codec.Marshal(v)
	if err != nil {
		return nil, t.q.wrap("put to", fmt.Errorf("%w: encode %T: %w", ErrCodec, v, err))
	}
	return b, nil
}

func (t *Typed[T]) decode(b []byte) (T, error) {
	var v T
	if err := t.codec.Unmarshal(b, &v); err != nil {
		return v, t.q.wrap("get from", fmt.Errorf("%w: decode a %d-byte message as %T: %w", ErrCodec, len(b), v, err))
	}
	return v, nil
}

// Put encodes v and stores it as Queue.Put does. An encoding error wraps
// ErrCodec.
func (t *Typed[T]) Put(ctx context.Context, v T) error {
	b, err := t.encode(v)
	if err != nil {
		return err
	}
	return t.q.Put(ctx, b)
}

// TryPut is Put without waiting (see Queue.TryPut).
func (t *Typed[T]) TryPut(v T) error {
	b, err := t.encode(v)
	if err != nil {
		return err
	}
	return t.q.TryPut(b)
}

// Get takes the oldest message as Queue.Get does and decodes it. A message
// that does not decode as a T is consumed and reported as an error wrapping
// ErrCodec.
func (t *Typed[T]) Get(ctx context.Context) (T, error) {
	b, err := t.q.Get(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return t.decode(b)
}

// TryGet is Get without waiting (see Queue.TryGet).
func (t *Typed[T]) TryGet() (T, error) {
	b, err := t.q.TryGet()
	if err != nil {
		var zero T
		return zero, err
	}
	return t.decode(b)
}

// Len returns the number of messages in the queue.
func (t *Typed[T]) Len() int { return t.q.Len() }

// CloseWrite closes the queue for writing (see Queue.CloseWrite).
func (t *Typed[T]) CloseWrite() error { return t.q.CloseWrite() }

// Close releases this process's handle (see Queue.Close).
func (t *Typed[T]) Close() error { return t.q.Close() }

// TypedConn is a pipe end that sends and receives values of type T, each
// encoded as one message by a Codec (GobCodec unless NewTypedConn is given
// another), like Python's Connection.send and recv. Both ends must use the
// same T and Codec. Its methods may be called from several goroutines.
type TypedConn[T any] struct {
	c     *Conn
	codec Codec
}

// NewTypedConn returns a typed view of the pipe end c using codec (GobCodec
// when nil). It does not own c: closing c closes it.
func NewTypedConn[T any](c *Conn, codec Codec) *TypedConn[T] {
	if codec == nil {
		codec = GobCodec{}
	}
	return &TypedConn[T]{c: c, codec: codec}
}

// Conn returns the underlying pipe end.
func (t *TypedConn[T]) Conn() *Conn { return t.c }

// Send encodes v and sends it as Conn.Send does. An encoding error wraps
// ErrCodec, and nothing is sent.
func (t *TypedConn[T]) Send(ctx context.Context, v T) error {
	b, err := t.codec.Marshal(v)
	if err != nil {
		return t.c.wrap("send on", fmt.Errorf("%w: encode %T: %w", ErrCodec, v, err))
	}
	return t.c.Send(ctx, b)
}

// Recv receives the next message as Conn.Recv does and decodes it. A
// message that does not decode as a T is consumed and reported as an error
// wrapping ErrCodec.
func (t *TypedConn[T]) Recv(ctx context.Context) (T, error) {
	var v T
	b, err := t.c.Recv(ctx)
	if err != nil {
		return v, err
	}
	if err := t.codec.Unmarshal(b, &v); err != nil {
		return v, t.c.wrap("receive on", fmt.Errorf("%w: decode a %d-byte message as %T: %w", ErrCodec, len(b), v, err))
	}
	return v, nil
}

// CloseWrite closes this end's sending direction (see Conn.CloseWrite).
func (t *TypedConn[T]) CloseWrite() error { return t.c.CloseWrite() }

// Close releases this process's handle of the end (see Conn.Close).
func (t *TypedConn[T]) Close() error { return t.c.Close() }
