package pool

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/engine"
	"github.com/shmpar/shmpar/engine/internal/remote"
)

// The stage: each result is journaled in shared memory as its task
// finishes (see stageCtl), and the staged results are sent in one message
// when the stage is full or the batch is done.
//
// A flat result is staged as its bytes, and the stage is the message. A
// gob result is kept in the batch's slice of results, and journaled as a
// gob message of its own in a stream that starts afresh with each run of
// staged results (so the coordinator can read a dead worker's journal with
// a new decoder); the message carries the run as one gob message of the
// slice, in the worker's result stream, which is much cheaper to decode. A
// batch of one task is not journaled: its result is sent as soon as it is
// there.

// stageBegin starts staging the results of batch seq.
func (w *poolWorker) stageBegin(seq uint64) {
	*w.stg = stageCtl{seq: seq}
	w.jout.reset()
}

// sfNoJournal (in stageCtl.flags) says that a staged result has no
// journal entry: it is sent at once, from the batch's slice of results.
const sfNoJournal = 1

// stageResult stages the result of task j of the batch (and its failure,
// e), after sending what is staged if it does not fit. A gob result that
// cannot be encoded, or is too large for any message, is replaced by the
// zero value and an error saying so.
func (o *funcImpl[In, Out]) stageResult(w *poolWorker, h *taskHdr, outs []Out, j int, out Out, e *wireErr) error {
	ctl := w.stg
	pcap := len(w.stgMsg) - poolHdr - 8
	var vb []byte
	journal := true
	if o.f.outFlat {
		outs[j] = out
		vb = rawBytes(unsafe.Slice(&outs[j], 1))
		if len(vb) > w.maxMsg-poolHdr-8-len(w.stgErrs) {
			// No message can carry it: send the error with no value.
			if err := o.flush(w, h, outs, 0); err != nil {
				return err
			}
			e := wireErr{idx: uint32(j), kind: ekTooLarge,
				msg: fmt.Sprintf("result: %v: %d bytes, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(vb), w.maxMsg)}
			ctl.count = 1
			rh := resHdr{kind: rmResult, worker: uint16(w.me), n: 1, session: w.session, seq: h.seq, off: uint32(j)}
			return o.flushZero(w, h, outs, rh, e)
		}
		if len(vb) > pcap {
			journal = false
		}
	} else if len(outs) == 1 {
		journal = false
	} else {
		var err error
		for {
			vb, _, err = w.jout.encode(w.scratch[:0], &out)
			if err == nil && len(vb) > w.maxMsg-poolHdr-8 {
				e = &wireErr{idx: uint32(j), kind: ekTooLarge,
					msg: fmt.Sprintf("result: %v: %d bytes encoded, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(vb), w.maxMsg)}
				err = errDropped
			} else if err != nil {
				e = &wireErr{idx: uint32(j), kind: ekEncode, sentinel: uint8(remote.Code(engine.ErrArgsEncode)),
					msg: fmt.Sprintf("result (%s): %v: %v; results cross to the coordinator with encoding/gob", o.f.out, engine.ErrArgsEncode, err)}
			}
			fits := int(ctl.pbytes)+len(vb) <= pcap
			if err == nil && (fits || ctl.count == 0) {
				break
			}
			// A new run of the journal, whose stream starts again: send
			// what is staged first.
			if err := o.flush(w, h, outs, 0); err != nil {
				return err
			}
			w.jout.reset()
			if err != nil {
				var zero Out
				out = zero
			}
		}
		w.scratch = vb[:0]
		if len(vb) > pcap {
			journal = false // larger than the stage: sent alone, at once
		}
	}
	eb := 0
	if e != nil {
		cutWireErr(e, len(w.stgErrs))
		eb = wireErrHdr + len(e.msg) + len(e.stack)
	}
	if int(ctl.pbytes)+len(vb) > pcap || int(ctl.ebytes)+eb > len(w.stgErrs) {
		if err := o.flush(w, h, outs, 0); err != nil {
			return err
		}
		w.jout.reset()
		if !o.f.outFlat && journal {
			// Journaled again, at the start of the new run's stream.
			var err error
			if vb, _, err = w.jout.encode(w.scratch[:0], &out); err != nil {
				return fmt.Errorf("encode a result of %s again: %w", o.f.out, err)
			}
			w.scratch = vb[:0]
		}
	}
	outs[j] = out
	if journal {
		copy(w.stgMsg[poolHdr+int(ctl.pbytes):], vb)
		ctl.pbytes += uint32(len(vb))
	} else {
		ctl.flags |= sfNoJournal
	}
	if e != nil {
		putWireErr(w.stgErrs[ctl.ebytes:], e)
		ctl.ebytes += uint32(eb)
		ctl.nerr++
	}
	ctl.count++ // last: the result is staged
	if !journal && (o.f.outFlat || len(outs) > 1) {
		return o.flush(w, h, outs, 0)
	}
	return nil
}

// errDropped marks an encoded result that was not sent.
var errDropped = errors.New("result dropped")

// flush sends what is staged as one message and empties the stage; run,
// the batch's run time, goes with the message that ends the batch.
func (o *funcImpl[In, Out]) flush(w *poolWorker, h *taskHdr, outs []Out, run time.Duration) error {
	ctl := w.stg
	if ctl.count == 0 {
		return nil
	}
	rh := resHdr{kind: rmResult, worker: uint16(w.me), n: ctl.count, session: w.session, seq: h.seq,
		off: ctl.off, nerr: ctl.nerr, errBytes: ctl.ebytes}
	if int(ctl.off+ctl.count) == int(h.n) {
		rh.run = int64(run)
	}
	if w.broken {
		rh.flags |= rfWantReset
	}
	var m []byte
	if o.f.outFlat && ctl.flags&sfNoJournal != 0 {
		// A result larger than the stage, alone.
		b := append(append(w.res[:0], make([]byte, poolHdr)...), rawBytes(outs[ctl.off:ctl.off+ctl.count])...)
		rh.pbytes = uint32(len(b) - poolHdr)
		b = append(b, make([]byte, pad8(len(b))-len(b))...)
		m = append(b, w.stgErrs[:ctl.ebytes]...)
		w.res = m
	} else if o.f.outFlat {
		rh.pbytes = ctl.pbytes
		pend := poolHdr + pad8(int(ctl.pbytes))
		m = w.stgMsg[:pend]
		clear(m[poolHdr+int(ctl.pbytes):])
		if ctl.nerr > 0 {
			m = append(append(w.res[:0], m...), w.stgErrs[:ctl.ebytes]...)
			w.res = m
		}
	} else {
		b := append(w.res[:0], make([]byte, poolHdr)...)
		b, fresh, err := w.out.encode(b, outs[ctl.off:ctl.off+ctl.count])
		if err != nil {
			// Only a result that was not journaled (a batch of one) can
			// fail here: send a zero value and the error instead.
			var zero Out
			for k := ctl.off; k < ctl.off+ctl.count; k++ {
				outs[k] = zero
			}
			e := wireErr{idx: ctl.off, kind: ekEncode, sentinel: uint8(remote.Code(engine.ErrArgsEncode)),
				msg: fmt.Sprintf("result (%s): %v: %v; results cross to the coordinator with encoding/gob", o.f.out, engine.ErrArgsEncode, err)}
			if len(b)-poolHdr > w.maxMsg-poolHdr-8-int(ctl.ebytes) {
				e.kind, e.sentinel = ekTooLarge, 0
			}
			return o.flushZero(w, h, outs, rh, e)
		}
		if fresh {
			rh.flags |= rfStreamStart
		}
		if len(b)+8+int(ctl.ebytes) > w.maxMsg {
			// One result larger than the queue can hold (a batch of one).
			w.out.reset()
			e := wireErr{idx: ctl.off, kind: ekTooLarge,
				msg: fmt.Sprintf("result: %v: %d bytes encoded, the pool's result queue takes at most %d (QueueSize); return bulk data in a shared array", engine.ErrArgsTooLarge, len(b)-poolHdr, w.maxMsg)}
			return o.flushZero(w, h, outs, rh, e)
		}
		rh.pbytes = uint32(len(b) - poolHdr)
		b = append(b, make([]byte, pad8(len(b))-len(b))...)
		b = append(b, w.stgErrs[:ctl.ebytes]...)
		m, w.res = b, b
	}
	rh.put(m)
	if err := w.put(m); err != nil {
		return err
	}
	*ctl = stageCtl{seq: ctl.seq, off: ctl.off + ctl.count}
	w.jout.reset() // the next run's journal is a stream of its own
	return nil
}

// flushZero sends the staged run of one result (its task had no error) as
// a zero value with error e, when the result itself cannot be sent.
func (o *funcImpl[In, Out]) flushZero(w *poolWorker, h *taskHdr, outs []Out, rh resHdr, e wireErr) error {
	ctl := w.stg
	if ctl.count != 1 || ctl.nerr != 0 {
		return fmt.Errorf("results of %s cannot be sent: %s", o.f.out, e.msg)
	}
	var zero Out
	outs[ctl.off] = zero
	b := append(w.res[:0], make([]byte, poolHdr)...)
	rh.flags &^= rfStreamStart
	if !o.f.outFlat {
		// (A flat result goes with no payload: the coordinator leaves
		// the zero value.)
		var fresh bool
		var err error
		if b, fresh, err = w.out.encode(b, outs[ctl.off:ctl.off+1]); err != nil {
			return fmt.Errorf("encode a zero %s: %w", o.f.out, err)
		}
		if fresh {
			rh.flags |= rfStreamStart
		}
	}
	rh.pbytes = uint32(len(b) - poolHdr)
	b = append(b, make([]byte, pad8(len(b))-len(b))...)
	cutWireErr(&e, w.maxMsg/2)
	b = appendWireErr(b, &e)
	rh.nerr, rh.errBytes = 1, uint32(wireErrHdr+len(e.msg)+len(e.stack))
	rh.put(b)
	w.res = b
	if err := w.put(b); err != nil {
		return err
	}
	*ctl = stageCtl{seq: ctl.seq, off: ctl.off + ctl.count}
	w.jout.reset()
	return nil
}
