package pool

import (
	"testing"
)

// FuzzPoolWire feeds arbitrary bytes to the parsers of pool messages, which
// come from other processes: they must return an error, never panic or read
// out of bounds.
func FuzzPoolWire(f *testing.F) {
	th := taskHdr{kind: tmBatch, nameLen: 3, n: 2, session: 1, seq: 2, call: 3}
	tb := make([]byte, poolHdr+8+16)
	th.put(tb)
	copy(tb[poolHdr:], "abc")
	f.Add(tb)
	e := wireErr{idx: 1, kind: ekPanic, msg: "boom", stack: "stack"}
	eb := appendWireErr(nil, &e)
	rh := resHdr{kind: rmResult, n: 2, nerr: 1, errBytes: uint32(len(eb))}
	rb := make([]byte, poolHdr)
	rh.put(rb)
	rb = append(rb, eb...)
	rb = append(rb, make([]byte, pad8(len(eb))-len(eb)+16)...)
	f.Add(rb)
	f.Add([]byte{})
	f.Add(make([]byte, poolHdr))
	f.Fuzz(func(t *testing.T, b []byte) {
		var th taskHdr
		if th.get(b) == nil {
			name, payload := th.body(b)
			_, _ = name, payload
		}
		var rh resHdr
		if rh.get(b) == nil {
			errs, payload := rh.body(b)
			_, _ = parseWireErrs(errs, int(rh.nerr))
			_ = payload
		}
		_, _ = parseWireErrs(b, 3)
		var in gobIn
		var v []int
		_ = in.decode(b, true, &v)
		_, _ = aliasRaw[int64](b, len(b)/8)
	})
}

func TestPoolCurPacking(t *testing.T) {
	for _, c := range []struct {
		seq uint64
		j   int
	}{{0, 0}, {1, 0}, {1, maxBatchTasks}, {1 << 39, 12345}} {
		s, j := unpackCur(packCur(c.seq, c.j))
		if s != c.seq || j != c.j {
			t.Fatalf("unpackCur(packCur(%d, %d)) = %d, %d", c.seq, c.j, s, j)
		}
	}
}
