package shmap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The map's own layout, inside the data region of its segment; doc.go draws
// it. All integers are little-endian.
const (
	// Version is the layout version this package writes and the only one
	// it reads. Version 2 keeps each bucket's word in the slot of its home
	// entry and tracks free entries in a bitmap; version 1 (buckets and
	// entries apart, a free list) was never released.
	Version = 2

	// MaxCapacity is the largest capacity a map can have.
	MaxCapacity = 1<<31 - 1

	// MaxKeySize is the largest key a map can hold, in bytes: the size of a
	// fixed-size key type, or MaxKeyLen for string keys.
	MaxKeySize = 1024

	// MaxValueSize is the largest value type a map can hold, in bytes.
	MaxValueSize = 64 << 10

	// MaxStripes is the largest number of stripes (locks) a map can have.
	MaxStripes = 4096

	// DefaultMaxKeyLen is the longest string key of a map created without
	// the MaxKeyLen option, in bytes.
	DefaultMaxKeyLen = 64

	// DefaultStripes is the number of stripes of a map created without the
	// Stripes option (fewer if the map has fewer buckets).
	DefaultStripes = 64

	headerSize  = 256 // the fixed header
	controlOff  = 256 // the allocator's control line
	stripesOff  = 320 // the first stripe
	stripeHead  = 32  // stripe fields before the value journal
	slotHead    = 16  // slot fields before the key: the bucket word, next and state
	entryOff    = 8   // where a slot's entry (next, state, key, value) starts
	entryHead   = 8   // entry fields before the key
	cacheLine   = 64
	blockSize   = 128 // a pair of lines the CPU fetches together: a bucket's home block
	pageSize    = 4096
	headerMagic = "SHMAP\x00\x00\x01"
)

// Byte offsets of the header fields.
const (
	hMagic      = 0   // [8]byte headerMagic
	hVersion    = 8   // uint32 Version
	hHeaderSize = 12  // uint32 headerSize
	hFlags      = 16  // uint32 flagStringKey
	hKeySize    = 20  // uint32 key size (MaxKeyLen for string keys)
	hKeySlot    = 24  // uint32 bytes of an entry's key area
	hValSize    = 28  // uint32 value size
	hValSlot    = 32  // uint32 bytes of an entry's value area
	hSlotSize   = 36  // uint32 bytes per slot
	hStripes    = 40  // uint32
	hStripeSize = 44  // uint32 bytes per stripe
	hCapacity   = 48  // uint64 entries
	hBuckets    = 56  // uint64
	hSeed       = 64  // uint64 hash seed
	hKeySig     = 72  // uint64 FNV-1a of the key layout signature
	hValSig     = 80  // uint64 FNV-1a of the value layout signature
	hStripesOff = 88  // uint64
	hBitmapOff  = 96  // uint64 the used-entry bitmap, then its summary
	hSlotsOff   = 104 // uint64
	hEnd        = 112 // uint64 bytes of the data region the map uses
	hKeyName    = 120 // [64]byte key type name, NUL padded (for messages)
	hValName    = 184 // [64]byte value type name
	hCRC        = 248 // uint32 CRC-32C of bytes [0, hCRC)
	hNameLen    = 64

	flagStringKey = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the map's description, written once by Create.
type header struct {
	stringKey      bool
	keySize        int
	valSize        int
	stripes        int
	capacity       int
	buckets        int
	seed           uint64
	keySig, valSig uint64
	keyName        string
	valName        string
	layout
}

// layout is where things are in the data region, derived from the sizes.
type layout struct {
	keySlot, valSlot int // bytes of an entry's key and value areas, multiples of 8
	slotSize         int // a bucket word and an entry
	stripeSize       int
	stripesOff       int
	bitmapOff        int // bitmapWords words, then summaryWords words
	slotsOff         int
	end              int // bytes used: the data region's length
}

// bitmapWords returns the number of words of the used-entry bitmap of a map
// of capacity entries, one bit each, and summaryWords the number of words of
// its summary, one bit per bitmap word.
func bitmapWords(capacity int) int  { return (capacity + 63) / 64 }
func summaryWords(capacity int) int { return (bitmapWords(capacity) + 63) / 64 }

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// keySlotSize returns the bytes of an entry's key area for a key of size
// bytes: a string key has a length word before its bytes.
func keySlotSize(size int, str bool) int {
	if str {
		return 8 + roundUp(size, 8)
	}
	return roundUp(size, 8)
}

// layoutFor computes the layout of a map; the sizes must be in range (see
// checkSizes), so nothing overflows an int64.
func layoutFor(keySize int, str bool, valSize, stripes, capacity int) layout {
	var l layout
	l.keySlot = keySlotSize(keySize, str)
	l.valSlot = roundUp(valSize, 8)
	l.slotSize = slotHead + l.keySlot + l.valSlot
	l.stripeSize = roundUp(stripeHead+l.valSlot, cacheLine)
	l.stripesOff = stripesOff
	l.bitmapOff = roundUp(l.stripesOff+stripes*l.stripeSize, cacheLine)
	l.slotsOff = roundUp(l.bitmapOff+8*(bitmapWords(capacity)+summaryWords(capacity)), pageSize)
	l.end = l.slotsOff + capacity*l.slotSize
	return l
}

// checkSizes returns an error wrapping ErrCapacity, ErrKeyType or
// ErrValueType when a map with these parameters cannot be built.
func checkSizes(keySize int, str bool, valSize, stripes, capacity, buckets int) error {
	switch {
	case capacity < 1 || capacity > MaxCapacity:
		return fmt.Errorf("%w: capacity %d, want 1 to %d", ErrCapacity, capacity, MaxCapacity)
	case buckets != capacity:
		return fmt.Errorf("%w: %d buckets for %d entries, want one bucket per entry", ErrCapacity, buckets, capacity)
	case stripes < 1 || stripes > MaxStripes:
		return fmt.Errorf("%w: %d stripes, want 1 to %d", ErrCapacity, stripes, MaxStripes)
	case str && (keySize < 1 || keySize > MaxKeySize-8):
		return fmt.Errorf("%w: string keys of at most %d bytes, want 1 to %d", ErrCapacity, keySize, MaxKeySize-8)
	case keySize < 0 || keySize > MaxKeySize:
		return fmt.Errorf("%w: a key of %d bytes, at most %d are supported", ErrKeyType, keySize, MaxKeySize)
	case valSize < 0 || valSize > MaxValueSize:
		return fmt.Errorf("%w: a value of %d bytes, at most %d are supported", ErrValueType, valSize, MaxValueSize)
	}
	return nil
}

// encode returns the header's headerSize bytes.
func (h *header) encode() []byte {
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	copy(b[hMagic:], headerMagic)
	le.PutUint32(b[hVersion:], Version)
	le.PutUint32(b[hHeaderSize:], headerSize)
	if h.stringKey {
		le.PutUint32(b[hFlags:], flagStringKey)
	}
	le.PutUint32(b[hKeySize:], uint32(h.keySize))
	le.PutUint32(b[hKeySlot:], uint32(h.keySlot))
	le.PutUint32(b[hValSize:], uint32(h.valSize))
	le.PutUint32(b[hValSlot:], uint32(h.valSlot))
	le.PutUint32(b[hSlotSize:], uint32(h.slotSize))
	le.PutUint32(b[hStripes:], uint32(h.stripes))
	le.PutUint32(b[hStripeSize:], uint32(h.stripeSize))
	le.PutUint64(b[hCapacity:], uint64(h.capacity))
	le.PutUint64(b[hBuckets:], uint64(h.buckets))
	le.PutUint64(b[hSeed:], h.seed)
	le.PutUint64(b[hKeySig:], h.keySig)
	le.PutUint64(b[hValSig:], h.valSig)
	le.PutUint64(b[hStripesOff:], uint64(h.stripesOff))
	le.PutUint64(b[hBitmapOff:], uint64(h.bitmapOff))
	le.PutUint64(b[hSlotsOff:], uint64(h.slotsOff))
	le.PutUint64(b[hEnd:], uint64(h.end))
	putName(b[hKeyName:hKeyName+hNameLen], h.keyName)
	putName(b[hValName:hValName+hNameLen], h.valName)
	le.PutUint32(b[hCRC:], crc32.Checksum(b[:hCRC], castagnoli))
	return b
}

// putName stores s NUL padded, cut to fit (at a byte: names are for
// messages only, and parseName accepts any bytes).
func putName(dst []byte, s string) {
	copy(dst[:len(dst)-1], s)
}

func parseName(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseHeader reads the header at the start of b, the data region of a
// segment of len(b) bytes (or a copy of its first bytes, with dataLen the
// region's length). The checks, in order: the region can hold a header
// (ErrNotMap), the magic (ErrNotMap), the version (ErrVersion), the header
// size, the checksum and the zero bytes after it (ErrCorrupt), then that
// every field is in range and
// that the offsets and the length are the ones the sizes imply
// (ErrCorrupt). It never reads past headerSize bytes.
func parseHeader(b []byte, dataLen int) (header, error) {
	var h header
	le := binary.LittleEndian
	if len(b) < headerSize || dataLen < headerSize {
		return h, fmt.Errorf("%w: a data region of %d bytes cannot hold the %d-byte map header", ErrNotMap, dataLen, headerSize)
	}
	if string(b[hMagic:hMagic+len(headerMagic)]) != headerMagic {
		return h, fmt.Errorf("%w: no map magic (found %q)", ErrNotMap, b[hMagic:hMagic+len(headerMagic)])
	}
	if v := le.Uint32(b[hVersion:]); v != Version {
		return h, fmt.Errorf("%w: map layout version %d, this shmap reads version %d", ErrVersion, v, Version)
	}
	if hs := le.Uint32(b[hHeaderSize:]); hs != headerSize {
		return h, fmt.Errorf("%w: header size %d, want %d", ErrCorrupt, hs, headerSize)
	}
	if stored, sum := le.Uint32(b[hCRC:]), crc32.Checksum(b[:hCRC], castagnoli); stored != sum {
		return h, fmt.Errorf("%w: header checksum %#08x does not match its contents (%#08x)", ErrCorrupt, stored, sum)
	}
	if pad := le.Uint32(b[hCRC+4:]); pad != 0 {
		return h, fmt.Errorf("%w: header bytes %d-%d are %#x, want 0", ErrCorrupt, hCRC+4, headerSize-1, pad)
	}
	corrupt := func(format string, args ...any) (header, error) {
		return header{}, fmt.Errorf("%w: header: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	flags := le.Uint32(b[hFlags:])
	if flags&^flagStringKey != 0 {
		return corrupt("unknown flags %#x", flags)
	}
	h.stringKey = flags&flagStringKey != 0
	u32 := func(off int) int { return int(le.Uint32(b[off:])) }
	u64 := func(off int) (int, bool) {
		v := le.Uint64(b[off:])
		return int(v), v <= 1<<62
	}
	h.keySize, h.valSize, h.stripes = u32(hKeySize), u32(hValSize), u32(hStripes)
	var ok1, ok2 bool
	h.capacity, ok1 = u64(hCapacity)
	h.buckets, ok2 = u64(hBuckets)
	if !ok1 || !ok2 {
		return corrupt("capacity %d or bucket count %d out of range", le.Uint64(b[hCapacity:]), le.Uint64(b[hBuckets:]))
	}
	if err := checkSizes(h.keySize, h.stringKey, h.valSize, h.stripes, h.capacity, h.buckets); err != nil {
		return corrupt("%v", err)
	}
	h.seed = le.Uint64(b[hSeed:])
	h.keySig, h.valSig = le.Uint64(b[hKeySig:]), le.Uint64(b[hValSig:])
	h.keyName = parseName(b[hKeyName : hKeyName+hNameLen])
	h.valName = parseName(b[hValName : hValName+hNameLen])
	want := layoutFor(h.keySize, h.stringKey, h.valSize, h.stripes, h.capacity)
	var got layout
	got.keySlot, got.valSlot, got.slotSize, got.stripeSize = u32(hKeySlot), u32(hValSlot), u32(hSlotSize), u32(hStripeSize)
	var oks [4]bool
	got.stripesOff, oks[0] = u64(hStripesOff)
	got.bitmapOff, oks[1] = u64(hBitmapOff)
	got.slotsOff, oks[2] = u64(hSlotsOff)
	got.end, oks[3] = u64(hEnd)
	if oks != [4]bool{true, true, true, true} || got != want {
		return corrupt("layout %+v does not match the one its sizes imply, %+v", got, want)
	}
	h.layout = want
	if h.end != dataLen {
		return corrupt("the map takes %d bytes, the segment's data region has %d", h.end, dataLen)
	}
	return h, nil
}
