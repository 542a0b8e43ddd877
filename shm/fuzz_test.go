package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func crcOf(trailer []byte) uint32 { return crc32.Checksum(trailer[:trCRC], castagnoli) }

// fileImage returns the bytes of a whole segment file for m, data zero.
func fileImage(m Meta) []byte {
	lay := layoutFor(m.DataBytes())
	b := make([]byte, lay.size)
	copy(b, encodeHeader(m.DType, m.Shape))
	copy(b[lay.trailerOff:], encodeTrailer(m))
	return b
}

var fuzzMetas = []Meta{
	{DType: Float64, Shape: []int{1000, 10}, Kind: KindArray, CreatorPID: 123, CreatorStart: 456, Created: time.Unix(0, 1e18)},
	{DType: Int64, Kind: KindValue, CreatorPID: 1},
	{DType: Uint8, Shape: []int{0}, Kind: KindRaw},
	{DType: Complex128, Shape: []int{1, 2, 3, 4, 5, 6, 7, 8}, Kind: KindEngine, Flags: FlagPersistent},
	{DType: Int8, Shape: []int{3, 0, 1 << 40}, Kind: KindQueue},
}

// FuzzParseHeader checks that the npy header parser never panics, that what
// it accepts re-encodes into a header that parses to the same thing, and
// that canonical headers are reproduced byte for byte.
func FuzzParseHeader(f *testing.F) {
	for _, m := range fuzzMetas {
		f.Add(encodeHeader(m.DType, m.Shape))
	}
	f.Add(headerPage(`{"shape": (3,), "descr": "|u1", "fortran_order": False}`))
	f.Add(plainNpy(4)[:128])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if !h.dtype.Valid() || len(h.shape) > MaxDims || h.dataBytes < 0 || h.dataBytes > MaxDataBytes {
			t.Fatalf("accepted an impossible header: %+v", h)
		}
		if n, err := dataBytes(h.dtype, h.shape); err != nil || n != h.dataBytes {
			t.Fatalf("data size %d disagrees with dtype and shape (%d, %v)", h.dataBytes, n, err)
		}
		enc := encodeHeader(h.dtype, h.shape)
		h2, err := parseHeader(enc)
		if err != nil {
			t.Fatalf("re-encoded header does not parse: %v\n%q", err, enc[:100])
		}
		if h2.dtype != h.dtype || !slices.Equal(h2.shape, h.shape) || h2.dataBytes != h.dataBytes {
			t.Fatalf("round trip changed the header: %+v -> %+v", h, h2)
		}
		if !bytes.Equal(encodeHeader(h2.dtype, h2.shape), enc) {
			t.Fatalf("the canonical header is not reproduced byte for byte")
		}
	})
}

// FuzzParseTrailer checks that the trailer parser never panics and that
// whatever it accepts re-encodes to the same fixed fields.
func FuzzParseTrailer(f *testing.F) {
	for _, m := range fuzzMetas {
		f.Add(encodeTrailer(m))
	}
	bad := encodeTrailer(fuzzMetas[0])
	binary.LittleEndian.PutUint32(bad[trVersion:], 2)
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Give the fuzzer a fair chance past the checksum: fix it up half
		// the time.
		if len(b) >= TrailerSize && b[trFixedEnd]&1 == 1 {
			binary.LittleEndian.PutUint32(b[trCRC:], crcOf(b))
		}
		m, err := parseTrailer(b)
		if err != nil {
			return
		}
		if _, err := checkMeta(m); err != nil {
			t.Fatalf("accepted a trailer Create could not write: %v", err)
		}
		enc := encodeTrailer(m)
		if !bytes.Equal(enc[:trFixedEnd], b[:trFixedEnd]) {
			t.Fatalf("round trip changed the fixed fields:\n got %x\nwant %x", enc[:trFixedEnd], b[:trFixedEnd])
		}
	})
}

// FuzzValidate runs the whole open-time check over a file image: it must
// never panic, and a file it accepts must have exactly the size its header
// implies, a trailer that re-encodes to the same fixed fields, and a header
// that describes the same array.
func FuzzValidate(f *testing.F) {
	for _, m := range fuzzMetas[:4] {
		f.Add(fileImage(m))
	}
	img := fileImage(fuzzMetas[0])
	f.Add(img[:len(img)-1])
	f.Add(plainNpy(10))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, lay, err := validate(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if lay.size != int64(len(b)) || lay != layoutFor(m.DataBytes()) {
			t.Fatalf("accepted a %d-byte file with layout %+v", len(b), lay)
		}
		if !bytes.Equal(encodeTrailer(m)[:trFixedEnd], b[lay.trailerOff:lay.trailerOff+trFixedEnd]) {
			t.Fatalf("trailer does not round-trip")
		}
		h, err := parseHeader(b[:DataOffset])
		if err != nil || h.dtype != m.DType || !slices.Equal(h.shape, m.Shape) {
			t.Fatalf("header %+v (%v) disagrees with %+v", h, err, m)
		}
		// And the canonical rebuild of the file validates to the same Meta.
		m2, _, err := validate(bytes.NewReader(fileImage(m)), lay.size)
		if err != nil || !slices.Equal(m2.Shape, m.Shape) || m2.DType != m.DType || m2.Created != m.Created {
			t.Fatalf("rebuilt image: %+v, %v", m2, err)
		}
	})
}

// plainNpy returns a .npy file as numpy writes it: data at offset 128.
func plainNpy(n int) []byte {
	dict := "{'descr': '<f8', 'fortran_order': False, 'shape': (" + strconv.Itoa(n) + ",), }"
	hl := 128 - 10
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(hl))
	b = append(b, dict...)
	for len(b) < 127 {
		b = append(b, ' ')
	}
	b = append(b, '\n')
	return append(b, make([]byte, 8*n)...)
}

// FuzzValidateName checks the name rule against its definition: a name
// ValidateName accepts is one printable file name, so it neither leaves the
// directory nor changes when quoted for printing.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"grid", "a/b", "..", "two\nlines", "ünï", "\u202e", "\xff", "with space", ".shmpar"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		quoted := strconv.Quote(name)
		plain := utf8.ValidString(name) && len(name) <= MaxNameLen && name != "" && name != "." && name != ".."
		for _, r := range name {
			plain = plain && r != '/' && unicode.IsPrint(r)
		}
		if (err == nil) != plain {
			t.Fatalf("ValidateName(%s) = %v, want accepted=%v", quoted, err, plain)
		}
		if err != nil {
			if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), quoted) {
				t.Fatalf("ValidateName(%s) = %v: want ErrBadName naming the quoted name", quoted, err)
			}
			return
		}
		if filepath.Base(name) != name || strings.ContainsAny(name, "\x00\n\r\t\x1b\x7f") {
			t.Fatalf("ValidateName accepted %s", quoted)
		}
		// Printed with %q, a valid name only gains escapes for '"' and '\\'.
		unq := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(quoted[1 : len(quoted)-1])
		if unq != name {
			t.Fatalf("ValidateName accepted %s, which quoting escapes", quoted)
		}
	})
}
