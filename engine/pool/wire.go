package pool

import (
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/shmpar/shmpar/engine/internal/registry"
)

// The pool's wire format. The coordinator sends batches of tasks to each
// worker process on a queue of its own (a worker reads its queue in order),
// and every worker sends its results, in order, on one result queue that
// only the coordinator reads. Every message starts with a 48-byte header.
//
//	task message (coordinator → worker i)
//	  0 kind u8 (batch, stop) | 1 flags u8 | 2 name length u16 | 4 tasks u32
//	  8 session u64 | 16 batch sequence number u64 | 24 call id u64
//	  32 timeout ns i64 | 40 reserved | 48 function name, padded to 8 | payload
//
//	result message (worker → coordinator, and the coordinator's own events)
//	  0 kind u8 (result, hello, poke, death, end) | 1 flags u8 | 2 worker u16
//	  4 values u32 | 8 session u64 | 16 sequence u64 (hello, death: pid)
//	  24 run time ns i64 | 32 offset of the first value in its batch u32
//	  36 error count u32 | 40 error bytes u32 | 44 payload bytes u32
//	  48 payload, padded to 8 | errors
//
// A task message's payload is the batch's inputs: their raw bytes for flat
// types (see codec.Flat), else one gob message of the slice, in a gob stream
// per worker and direction (gobOut, gobIn), which sends each type
// description once. The payload starts 8-byte aligned in the message, so a
// worker reads a flat batch in place. A result message's payload is its
// results, each on its own — raw bytes, or a gob message per value in the
// worker's result stream — because the worker stages them one at a time as
// its tasks finish (see stageCtl); the message is its stage, sent as it
// stands.
const (
	poolHdr = 48

	tmBatch = 1
	tmStop  = 2

	rmResult = 1
	rmHello  = 3
	rmPoke   = 4
	rmDeath  = 5
	rmEnd    = 6
	rmInit   = 7 // the pool's initializer failed in the worker (see poolShared.initErr)

	// task flags
	tfStreamStart  = 1 // the payload starts a new gob stream
	tfResetResults = 2 // start a new result stream

	// result flags
	rfStreamStart = 1 // the payload starts a new gob stream
	rfNotRun      = 2 // the batch was not run (the worker lost the task stream): send it again
	rfDecodeFail  = 4 // the batch's inputs did not decode; the error is the first entry
	rfWantReset   = 8 // the worker lost the task stream: start a new one

	// error entry kinds
	ekError    = 1 // the function returned an error (Msg, sentinel)
	ekPanic    = 2 // the function panicked (Msg, stack)
	ekEncode   = 4 // the result cannot be encoded
	ekCanceled = 5 // not run: the call was canceled
	ekTooLarge = 6 // the result does not fit the result queue
	ekDecode   = 7 // the input did not decode in the worker
	ekUnknown  = 8 // the worker process does not have the function
)

// maxBatchTasks bounds the tasks of one batch (the task index in a worker's
// progress word has 24 bits).
const maxBatchTasks = 1 << 20

// lineSize is the spacing of words in the shared segment that different
// processes write (two 64-byte cache lines: the adjacent-line prefetcher
// pulls pairs).
const lineSize = 128

type taskHdr struct {
	kind, flags uint8
	nameLen     uint16
	n           uint32
	session     uint64
	seq         uint64
	call        uint64
	timeout     int64
}

func (h *taskHdr) put(b []byte) {
	b[0], b[1] = h.kind, h.flags
	binary.LittleEndian.PutUint16(b[2:], h.nameLen)
	binary.LittleEndian.PutUint32(b[4:], h.n)
	binary.LittleEndian.PutUint64(b[8:], h.session)
	binary.LittleEndian.PutUint64(b[16:], h.seq)
	binary.LittleEndian.PutUint64(b[24:], h.call)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.timeout))
	binary.LittleEndian.PutUint64(b[40:], 0)
}

func (h *taskHdr) get(b []byte) error {
	if len(b) < poolHdr {
		return fmt.Errorf("task message of %d bytes", len(b))
	}
	h.kind, h.flags = b[0], b[1]
	h.nameLen = binary.LittleEndian.Uint16(b[2:])
	h.n = binary.LittleEndian.Uint32(b[4:])
	h.session = binary.LittleEndian.Uint64(b[8:])
	h.seq = binary.LittleEndian.Uint64(b[16:])
	h.call = binary.LittleEndian.Uint64(b[24:])
	h.timeout = int64(binary.LittleEndian.Uint64(b[32:]))
	if int(h.nameLen) > registry.MaxName || poolHdr+pad8(int(h.nameLen)) > len(b) || h.n > maxBatchTasks {
		return fmt.Errorf("bad task message header %+v (%d bytes)", *h, len(b))
	}
	return nil
}

// body returns the function name and the payload of a task message.
func (h *taskHdr) body(b []byte) (name, payload []byte) {
	end := poolHdr + int(h.nameLen)
	return b[poolHdr:end], b[poolHdr+pad8(int(h.nameLen)):]
}

type resHdr struct {
	kind, flags uint8
	worker      uint16
	n           uint32
	session     uint64
	seq         uint64
	run         int64
	off         uint32
	nerr        uint32
	errBytes    uint32
	pbytes      uint32
}

func (h *resHdr) put(b []byte) {
	b[0], b[1] = h.kind, h.flags
	binary.LittleEndian.PutUint16(b[2:], h.worker)
	binary.LittleEndian.PutUint32(b[4:], h.n)
	binary.LittleEndian.PutUint64(b[8:], h.session)
	binary.LittleEndian.PutUint64(b[16:], h.seq)
	binary.LittleEndian.PutUint64(b[24:], uint64(h.run))
	binary.LittleEndian.PutUint32(b[32:], h.off)
	binary.LittleEndian.PutUint32(b[36:], h.nerr)
	binary.LittleEndian.PutUint32(b[40:], h.errBytes)
	binary.LittleEndian.PutUint32(b[44:], h.pbytes)
}

func (h *resHdr) get(b []byte) error {
	if len(b) < poolHdr {
		return fmt.Errorf("result message of %d bytes", len(b))
	}
	h.kind, h.flags = b[0], b[1]
	h.worker = binary.LittleEndian.Uint16(b[2:])
	h.n = binary.LittleEndian.Uint32(b[4:])
	h.session = binary.LittleEndian.Uint64(b[8:])
	h.seq = binary.LittleEndian.Uint64(b[16:])
	h.run = int64(binary.LittleEndian.Uint64(b[24:]))
	h.off = binary.LittleEndian.Uint32(b[32:])
	h.nerr = binary.LittleEndian.Uint32(b[36:])
	h.errBytes = binary.LittleEndian.Uint32(b[40:])
	h.pbytes = binary.LittleEndian.Uint32(b[44:])
	if int64(poolHdr)+int64(pad8(int(h.pbytes)))+int64(h.errBytes) > int64(len(b)) {
		return fmt.Errorf("bad result message header %+v (%d bytes)", *h, len(b))
	}
	return nil
}

// body returns the error entries and the payload of a result message.
func (h *resHdr) body(b []byte) (errs, payload []byte) {
	e := poolHdr + pad8(int(h.pbytes))
	return b[e : e+int(h.errBytes)], b[poolHdr : poolHdr+int(h.pbytes)]
}

func pad8(n int) int { return (n + 7) &^ 7 }

// ctlMsg returns a header-only result message (hello, poke, death, end).
func ctlMsg(kind uint8, worker int, session, seq uint64) []byte {
	b := make([]byte, poolHdr)
	h := resHdr{kind: kind, worker: uint16(worker), session: session, seq: seq}
	h.put(b)
	return b
}

// wireErr is one task's failure as a worker reports it.
type wireErr struct {
	idx      uint32 // in the batch
	kind     uint8
	sentinel uint8
	msg      string
	stack    string
}

const wireErrHdr = 16

// putWireErr writes e into b, which has room for it.
func putWireErr(b []byte, e *wireErr) {
	binary.LittleEndian.PutUint32(b[0:], e.idx)
	b[4], b[5], b[6], b[7] = e.kind, e.sentinel, 0, 0
	binary.LittleEndian.PutUint32(b[8:], uint32(len(e.msg)))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(e.stack)))
	copy(b[wireErrHdr:], e.msg)
	copy(b[wireErrHdr+len(e.msg):], e.stack)
}

// cutWireErr shortens e's stack, then its message, so that its entry takes
// at most room bytes (room ≥ 64).
func cutWireErr(e *wireErr, room int) {
	const cut = "\n[cut]"
	if over := wireErrHdr + len(e.msg) + len(e.stack) - room; over > 0 && len(e.stack) > 0 {
		e.stack = e.stack[:max(0, len(e.stack)-over-len(cut))] + cut
	}
	if over := wireErrHdr + len(e.msg) + len(e.stack) - room; over > 0 {
		e.msg = e.msg[:max(0, len(e.msg)-over-len(cut))] + cut
	}
}

func appendWireErr(b []byte, e *wireErr) []byte {
	var h [wireErrHdr]byte
	binary.LittleEndian.PutUint32(h[0:], e.idx)
	h[4], h[5] = e.kind, e.sentinel
	binary.LittleEndian.PutUint32(h[8:], uint32(len(e.msg)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(e.stack)))
	b = append(b, h[:]...)
	b = append(b, e.msg...)
	return append(b, e.stack...)
}

// parseWireErrs decodes n error entries (bounds checked: they come from
// another process).
func parseWireErrs(b []byte, n int) ([]wireErr, error) {
	if n == 0 {
		return nil, nil
	}
	out := make([]wireErr, 0, min(n, 1024))
	for range n {
		if len(b) < wireErrHdr {
			return nil, errors.New("truncated error entry")
		}
		e := wireErr{idx: binary.LittleEndian.Uint32(b[0:]), kind: b[4], sentinel: b[5]}
		m := int(binary.LittleEndian.Uint32(b[8:]))
		s := int(binary.LittleEndian.Uint32(b[12:]))
		b = b[wireErrHdr:]
		if m < 0 || s < 0 || m > len(b) || s > len(b)-m {
			return nil, errors.New("truncated error entry")
		}
		e.msg, e.stack = string(b[:m]), string(b[m:m+s])
		b = b[m+s:]
		out = append(out, e)
	}
	return out, nil
}

// ---- gob streams ----

// appendWriter is the writer under a gobOut: it appends to a message.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// gobOut is the sending end of a gob stream: one gob.Encoder for every
// message to one peer, so each type description crosses once. A new stream
// starts after any error (the encoder may have recorded types as sent in a
// message that was not), and the peer is told by a flag.
type gobOut struct {
	w   appendWriter
	enc *gob.Encoder
}

// encode appends the encoding of v to dst. fresh reports that it starts a
// new stream.
func (g *gobOut) encode(dst []byte, v any) (out []byte, fresh bool, err error) {
	if g.enc == nil {
		g.enc = gob.NewEncoder(&g.w)
		fresh = true
	}
	g.w.b = dst
	err = g.enc.Encode(v)
	out, g.w.b = g.w.b, nil
	if err != nil {
		g.enc = nil
		return dst, fresh, err
	}
	return out, fresh, nil
}

// reset makes the next message start a new stream (after a message was
// encoded but not sent).
func (g *gobOut) reset() { g.enc = nil }

// msgReader reads one message at a time for a gob.Decoder. It is an
// io.ByteReader, so the decoder reads exactly the message's bytes.
type msgReader struct {
	b []byte
	i int
}

func (r *msgReader) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}

func (r *msgReader) ReadByte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

// errStreamSync is the error for a message of a gob stream whose start was
// lost.
var errStreamSync = errors.New("gob stream out of step (an earlier message failed)")

// gobIn is the receiving end of a gob stream.
type gobIn struct {
	r   msgReader
	dec *gob.Decoder
}

// decode decodes one message into v. After an error the stream is lost
// until a message that starts a new one.
func (g *gobIn) decode(p []byte, fresh bool, v any) error {
	if fresh {
		g.dec = gob.NewDecoder(&g.r)
	}
	if g.dec == nil {
		return errStreamSync
	}
	g.r.b, g.r.i = p, 0
	err := g.dec.Decode(v)
	if err == nil && g.r.i != len(p) {
		err = fmt.Errorf("%d bytes left over after the values", len(p)-g.r.i)
	}
	g.r.b = nil
	if err != nil {
		g.dec = nil
	}
	return err
}

// decodeEach decodes n gob messages from p into the values at(0), …,
// at(n-1). After an error the stream is lost until a message that starts
// a new one.
func (g *gobIn) decodeEach(p []byte, fresh bool, n int, at func(int) any) error {
	if fresh {
		g.dec = gob.NewDecoder(&g.r)
	}
	if g.dec == nil {
		return errStreamSync
	}
	g.r.b, g.r.i = p, 0
	var err error
	for k := 0; k < n && err == nil; k++ {
		err = g.dec.Decode(at(k))
	}
	if err == nil && g.r.i != len(p) {
		err = fmt.Errorf("%d bytes left over after the values", len(p)-g.r.i)
	}
	g.r.b = nil
	if err != nil {
		g.dec = nil
	}
	return err
}

// rawBytes returns the memory of s as bytes (s holds a flat type).
func rawBytes[T any](s []T) []byte {
	var z T
	if len(s) == 0 || unsafe.Sizeof(z) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

// aliasRaw views b as n values of the flat type T without copying. b must
// be aligned for T (pool payloads are 8-byte aligned in a buffer from make).
func aliasRaw[T any](b []byte, n int) ([]T, bool) {
	var z T
	size := int(unsafe.Sizeof(z))
	if len(b) != n*size {
		return nil, false
	}
	if n == 0 || size == 0 {
		return make([]T, n), true
	}
	if uintptr(unsafe.Pointer(&b[0]))%unsafe.Alignof(z) != 0 {
		s := make([]T, n)
		copy(rawBytes(s), b)
		return s, true
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n), true
}
