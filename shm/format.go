package shm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"time"
)

// The file format; docs/FORMAT.md describes every byte.
const (
	// FormatVersion is the trailer format version this package writes and
	// the only one it reads.
	FormatVersion = 1

	// DataOffset is where the data starts in every segment file: the npy
	// header is padded to fill the first 4096 bytes.
	DataOffset = 4096

	// TrailerSize is the size of the trailer that follows the data, which is
	// zero-padded to a multiple of 4096 bytes.
	TrailerSize = 4096

	// LockAreaSize is the size of the zeroed area in the trailer returned by
	// Segment.Locks, where other packages place lock words. It starts at a
	// 64-byte aligned offset.
	LockAreaSize = 512

	// MaxDims is the largest number of dimensions a segment can have.
	MaxDims = 8

	// MaxDataBytes is the largest data region a segment can have (64 TiB).
	MaxDataBytes = 1 << 46

	formatPage   = 4096                       // alignment unit of the format, independent of the OS page size
	npyPreamble  = 10                         // "\x93NUMPY", major, minor, uint16 LE header length
	npyHeaderLen = DataOffset - npyPreamble   // the uint16 in the preamble: 4086
	minFileSize  = DataOffset + TrailerSize   // an empty array
	npyMagic     = "\x93NUMPY"                // numpy's magic
	trailerMagic = "SHMPAR\x00\x01"           // first 8 bytes of the trailer
	lockAreaOff  = 256                        // offset of the lock area inside the trailer
	lockAreaEnd  = lockAreaOff + LockAreaSize // 768
)

// Byte offsets of the trailer's fixed fields, all little-endian.
const (
	trMagic     = 0   // [8]byte trailerMagic
	trVersion   = 8   // uint32 FormatVersion
	trHeaderLen = 12  // uint32 npy header length from the preamble (4086)
	trDType     = 16  // uint8 DType
	trKind      = 17  // uint8 Kind
	trNDim      = 18  // uint8 number of dimensions, 0..MaxDims
	trPad       = 19  // uint8, zero
	trFlags     = 20  // uint32 Flags
	trShape     = 24  // [MaxDims]int64, unused entries zero
	trDataOff   = 88  // uint64 DataOffset
	trDataLen   = 96  // uint64 data length in bytes (unpadded)
	trPID       = 104 // int64 creator pid
	trStart     = 112 // uint64 creator start time, clock ticks since boot
	trCreated   = 120 // int64 creation time, Unix nanoseconds (0: unknown)
	trCRC       = 128 // uint32 CRC-32C (Castagnoli) of bytes [0, trCRC)
	trFixedEnd  = 132 // end of the fixed fields; bytes up to lockAreaOff are zero
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// layout is where things are in a segment file with a given data size.
type layout struct {
	dataBytes  int64 // length of the data region
	trailerOff int64 // offset of the trailer: DataOffset + dataBytes rounded up to formatPage
	size       int64 // total file size
}

func layoutFor(dataBytes int64) layout {
	padded := (dataBytes + formatPage - 1) &^ (formatPage - 1)
	return layout{
		dataBytes:  dataBytes,
		trailerOff: DataOffset + padded,
		size:       DataOffset + padded + TrailerSize,
	}
}

// encodeHeader returns the first DataOffset bytes of a segment: the npy 1.0
// preamble and header dict for dtype d and shape, padded with spaces and
// ending in '\n', exactly as numpy.lib.format writes it. d and shape must
// have passed checkMeta.
func encodeHeader(d DType, shape []int) []byte {
	b := make([]byte, DataOffset)
	copy(b, npyMagic)
	b[6], b[7] = 1, 0
	binary.LittleEndian.PutUint16(b[8:], npyHeaderLen)
	dict := fmt.Appendf(nil, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", d.Descr(), pyTuple(shape))
	n := copy(b[npyPreamble:], dict)
	for i := npyPreamble + n; i < DataOffset-1; i++ {
		b[i] = ' '
	}
	b[DataOffset-1] = '\n'
	return b
}

// pyTuple formats shape as Python does: "()", "(5,)", "(3, 4)".
func pyTuple(shape []int) string {
	var b []byte
	b = append(b, '(')
	for i, d := range shape {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	if len(shape) == 1 {
		b = append(b, ',')
	}
	return string(append(b, ')'))
}

// npyHeader is what parseHeader finds in the first page.
type npyHeader struct {
	dtype     DType
	shape     []int // nil for 0-d
	dataBytes int64
}

// parseHeader parses the npy preamble and header dict at the start of b,
// which holds the first min(file size, DataOffset) bytes of a file. The
// checks, in order: the npy magic, npy version 1.0 and a header length of
// npyHeaderLen (each ErrBadMagic: a foreign file), that b holds the whole
// header (ErrTruncated), the dict's syntax, keys and values (ErrCorrupt),
// and the data size (ErrTooLarge).
func parseHeader(b []byte) (npyHeader, error) {
	var h npyHeader
	if len(b) < npyPreamble || string(b[:len(npyMagic)]) != npyMagic {
		return h, fmt.Errorf("%w: not an npy file (no \\x93NUMPY magic)", ErrBadMagic)
	}
	if b[6] != 1 || b[7] != 0 {
		return h, fmt.Errorf("%w: an npy file of format %d.%d; shmpar segments are npy 1.0", ErrBadMagic, b[6], b[7])
	}
	if hl := binary.LittleEndian.Uint16(b[8:]); hl != npyHeaderLen {
		return h, fmt.Errorf("%w: an npy file with its data at offset %d; shmpar segments have it at %d", ErrBadMagic, npyPreamble+int(hl), DataOffset)
	}
	if len(b) < DataOffset {
		return h, fmt.Errorf("%w: file is %d bytes, shorter than its own %d-byte npy header", ErrTruncated, len(b), DataOffset)
	}
	p := pyScanner{s: b[npyPreamble:DataOffset], base: npyPreamble}
	descr, fortran, shape, err := p.dict()
	if err != nil {
		return h, err
	}
	h.dtype = dtypeFromDescr(descr)
	if !h.dtype.Valid() {
		return h, fmt.Errorf("%w: npy header: unsupported descr %q (shmpar supports little-endian integers, floats and complex numbers)", ErrCorrupt, descr)
	}
	if fortran {
		return h, fmt.Errorf("%w: npy header: fortran_order is True; shmpar segments are C order", ErrCorrupt)
	}
	if len(shape) > 0 {
		h.shape = shape
	}
	h.dataBytes, err = dataBytes(h.dtype, h.shape)
	if err != nil {
		return h, fmt.Errorf("npy header: %w", err)
	}
	return h, nil
}

// pyScanner reads the Python dict literal of an npy header: keys and string
// values in single or double quotes (no escapes), True/False, tuples of
// non-negative decimal integers, whitespace anywhere between tokens, an
// optional trailing comma, and nothing but whitespace after the '}'.
type pyScanner struct {
	s    []byte
	i    int
	base int // file offset of s[0], for messages
}

func (p *pyScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: npy header at byte %d: %s", ErrCorrupt, p.base+p.i, fmt.Sprintf(format, args...))
}

func (p *pyScanner) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *pyScanner) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyScanner) expect(c byte) error {
	p.space()
	if p.peek() != c {
		return p.errorf("want %q, found %s", c, p.found())
	}
	p.i++
	return nil
}

func (p *pyScanner) found() string {
	if p.i >= len(p.s) {
		return "the end of the header"
	}
	return strconv.QuoteRune(rune(p.s[p.i]))
}

func (p *pyScanner) str() (string, error) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.errorf("want a string, found %s", p.found())
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == q:
			p.i = j + 1
			return string(p.s[start:j]), nil
		case c == '\\' || c < ' ' || c > '~':
			p.i = j
			return "", p.errorf("unsupported character %s in a string", p.found())
		}
	}
	p.i = len(p.s)
	return "", p.errorf("unterminated string")
}

func (p *pyScanner) ident() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= 'A' && p.s[p.i] <= 'Z') {
		p.i++
	}
	return string(p.s[start:p.i])
}

// int reads a non-negative decimal integer without leading zeros.
func (p *pyScanner) int() (int, error) {
	p.space()
	start := p.i
	if p.peek() == '-' {
		return 0, p.errorf("negative dimension")
	}
	n := int64(0)
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		if p.i > start && p.s[start] == '0' {
			return 0, p.errorf("integer with a leading zero")
		}
		n = n*10 + int64(p.s[p.i]-'0')
		if n > MaxDataBytes {
			return 0, fmt.Errorf("%w: npy header at byte %d: dimension larger than MaxDataBytes", ErrTooLarge, p.base+start)
		}
		p.i++
	}
	if p.i == start {
		return 0, p.errorf("want an integer, found %s", p.found())
	}
	return int(n), nil
}

// tuple reads "()", "(n,)" or "(a, b, ...)" with up to MaxDims entries.
func (p *pyScanner) tuple() ([]int, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	shape := []int{}
	comma := false // whether the last element was followed by a comma
	for {
		p.space()
		if p.peek() == ')' {
			p.i++
			break
		}
		if len(shape) > 0 && !comma {
			return nil, p.errorf("want ',' or ')' in shape, found %s", p.found())
		}
		if len(shape) == MaxDims {
			return nil, p.errorf("shape has more than %d dimensions", MaxDims)
		}
		d, err := p.int()
		if err != nil {
			return nil, err
		}
		shape = append(shape, d)
		p.space()
		comma = p.peek() == ','
		if comma {
			p.i++
		}
	}
	if len(shape) == 1 && !comma {
		return nil, p.errorf("shape (%d) is an integer, not a tuple: a 1-tuple needs a trailing comma", shape[0])
	}
	return shape, nil
}

// dict reads the whole header dict and checks its keys.
func (p *pyScanner) dict() (descr string, fortran bool, shape []int, err error) {
	if err = p.expect('{'); err != nil {
		return
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.peek() == '}' {
			p.i++
			break
		}
		var key string
		if key, err = p.str(); err != nil {
			return
		}
		if seen[key] {
			err = p.errorf("key %q appears twice", key)
			return
		}
		seen[key] = true
		if err = p.expect(':'); err != nil {
			return
		}
		switch key {
		case "descr":
			if descr, err = p.str(); err != nil {
				return
			}
		case "fortran_order":
			switch v := p.ident(); v {
			case "True":
				fortran = true
			case "False":
				fortran = false
			default:
				err = p.errorf("fortran_order is not True or False")
				return
			}
		case "shape":
			if shape, err = p.tuple(); err != nil {
				return
			}
		default:
			err = p.errorf("unexpected key %q (want descr, fortran_order, shape)", key)
			return
		}
		p.space()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
		default:
			err = p.errorf("want ',' or '}', found %s", p.found())
			return
		}
	}
	p.space()
	if p.i != len(p.s) {
		err = p.errorf("unexpected %s after the header dict", p.found())
		return
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			err = p.errorf("the header dict has no %q key", k)
			return
		}
	}
	return
}

// encodeTrailer returns the TrailerSize-byte trailer for m, whose lock area
// is zero. m must have passed checkMeta.
func encodeTrailer(m Meta) []byte {
	b := make([]byte, TrailerSize)
	le := binary.LittleEndian
	copy(b[trMagic:], trailerMagic)
	le.PutUint32(b[trVersion:], FormatVersion)
	le.PutUint32(b[trHeaderLen:], npyHeaderLen)
	b[trDType] = byte(m.DType)
	b[trKind] = byte(m.Kind)
	b[trNDim] = byte(len(m.Shape))
	le.PutUint32(b[trFlags:], uint32(m.Flags))
	for i, d := range m.Shape {
		le.PutUint64(b[trShape+8*i:], uint64(d))
	}
	le.PutUint64(b[trDataOff:], DataOffset)
	le.PutUint64(b[trDataLen:], uint64(m.DataBytes()))
	le.PutUint64(b[trPID:], uint64(m.CreatorPID))
	le.PutUint64(b[trStart:], m.CreatorStart)
	var created int64
	if !m.Created.IsZero() {
		created = m.Created.UnixNano()
	}
	le.PutUint64(b[trCreated:], uint64(created))
	le.PutUint32(b[trCRC:], crc32.Checksum(b[:trCRC], castagnoli))
	return b
}

// parseTrailer parses a trailer. The checks, in order: its length
// (ErrTruncated), the magic (ErrBadMagic), the version (ErrVersion), the CRC
// (ErrCorrupt), and then that every field holds a value this version can
// write (ErrCorrupt). Bytes after the fixed fields, the lock area included,
// are not read.
func parseTrailer(b []byte) (Meta, error) {
	var m Meta
	le := binary.LittleEndian
	if len(b) < TrailerSize {
		return m, fmt.Errorf("%w: trailer is %d bytes, want %d", ErrTruncated, len(b), TrailerSize)
	}
	if string(b[trMagic:trMagic+len(trailerMagic)]) != trailerMagic {
		return m, fmt.Errorf("%w: an npy file without the shmpar trailer (magic %q)", ErrBadMagic, b[trMagic:trMagic+len(trailerMagic)])
	}
	if v := le.Uint32(b[trVersion:]); v != FormatVersion {
		return m, fmt.Errorf("%w: segment format version %d, this shmpar reads version %d", ErrVersion, v, FormatVersion)
	}
	if stored, sum := le.Uint32(b[trCRC:]), crc32.Checksum(b[:trCRC], castagnoli); stored != sum {
		return m, fmt.Errorf("%w: trailer checksum %#08x does not match its contents (%#08x)", ErrCorrupt, stored, sum)
	}
	corrupt := func(format string, args ...any) (Meta, error) {
		return Meta{}, fmt.Errorf("%w: trailer: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if hl := le.Uint32(b[trHeaderLen:]); hl != npyHeaderLen {
		return corrupt("npy header length %d, want %d", hl, npyHeaderLen)
	}
	m.DType = DType(b[trDType])
	if !m.DType.Valid() {
		return corrupt("unknown %s", m.DType)
	}
	m.Kind = Kind(b[trKind])
	if !m.Kind.Valid() {
		return corrupt("unknown %s", m.Kind)
	}
	ndim := int(b[trNDim])
	if ndim > MaxDims {
		return corrupt("%d dimensions, at most %d", ndim, MaxDims)
	}
	if b[trPad] != 0 {
		return corrupt("reserved byte %d is %#x, want 0", trPad, b[trPad])
	}
	m.Flags = Flags(le.Uint32(b[trFlags:]))
	if m.Flags&^knownFlags != 0 {
		return corrupt("unknown flags %#x", uint32(m.Flags&^knownFlags))
	}
	if ndim > 0 {
		m.Shape = make([]int, ndim)
	}
	for i := range MaxDims {
		d := int64(le.Uint64(b[trShape+8*i:]))
		switch {
		case i >= ndim && d != 0:
			return corrupt("shape entry %d is %d beyond ndim %d", i, d, ndim)
		case d < 0 || d > MaxDataBytes:
			return corrupt("dimension %d is %d", i, d)
		case i < ndim:
			m.Shape[i] = int(d)
		}
	}
	n, err := dataBytes(m.DType, m.Shape)
	if err != nil {
		return corrupt("%v", err)
	}
	if off := le.Uint64(b[trDataOff:]); off != DataOffset {
		return corrupt("data offset %d, want %d", off, DataOffset)
	}
	if dl := le.Uint64(b[trDataLen:]); dl != uint64(n) {
		return corrupt("data length %d, but %s %v takes %d bytes", dl, m.DType, m.Shape, n)
	}
	pid := int64(le.Uint64(b[trPID:]))
	if pid < 0 || pid > 1<<31 {
		return corrupt("creator pid %d", pid)
	}
	m.CreatorPID = int(pid)
	m.CreatorStart = le.Uint64(b[trStart:])
	if ns := int64(le.Uint64(b[trCreated:])); ns != 0 {
		m.Created = time.Unix(0, ns)
	}
	return m, nil
}

// validate checks a whole segment file of the given size, read through r,
// in the order docs/FORMAT.md gives, and returns its metadata and layout. It
// reads only the first page and the trailer; nothing is mapped.
func validate(r io.ReaderAt, size int64) (Meta, layout, error) {
	head := make([]byte, min(size, DataOffset))
	if err := readFull(r, head, 0); err != nil {
		return Meta{}, layout{}, err
	}
	h, err := parseHeader(head)
	if err != nil {
		return Meta{}, layout{}, err
	}
	lay := layoutFor(h.dataBytes)
	if size < lay.size {
		return Meta{}, layout{}, fmt.Errorf("%w: file is %d bytes, its npy header (%s %s) says %d: %d header + %d data (padded to %d) + %d trailer",
			ErrTruncated, size, h.dtype, pyTuple(h.shape), lay.size, DataOffset, h.dataBytes, lay.trailerOff-DataOffset, TrailerSize)
	}
	if size > lay.size {
		return Meta{}, layout{}, fmt.Errorf("%w: file is %d bytes, %d more than its npy header (%s %s) accounts for",
			ErrCorrupt, size, size-lay.size, h.dtype, pyTuple(h.shape))
	}
	tr := make([]byte, TrailerSize)
	if err := readFull(r, tr, lay.trailerOff); err != nil {
		return Meta{}, layout{}, err
	}
	m, err := parseTrailer(tr)
	if err != nil {
		return Meta{}, layout{}, err
	}
	if m.DType != h.dtype || !slices.Equal(m.Shape, h.shape) {
		return Meta{}, layout{}, fmt.Errorf("%w: the trailer says %s %s, the npy header says %s %s",
			ErrCorrupt, m.DType, pyTuple(m.Shape), h.dtype, pyTuple(h.shape))
	}
	return m, lay, nil
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if errors.Is(err, io.EOF) {
		// The file shrank since its size was taken.
		return fmt.Errorf("%w: file ended at byte %d while reading %d bytes at %d", ErrTruncated, off+int64(n), len(b), off)
	}
	return fmt.Errorf("read %d bytes at %d: %w", len(b), off, err)
}
