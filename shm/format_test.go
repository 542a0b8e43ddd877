package shm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// headerPage returns a first page holding the dict text, padded as numpy
// pads it.
func headerPage(dict string) []byte {
	b := make([]byte, DataOffset)
	copy(b, "\x93NUMPY\x01\x00")
	binary.LittleEndian.PutUint16(b[8:], npyHeaderLen)
	n := copy(b[10:], dict)
	for i := 10 + n; i < DataOffset-1; i++ {
		b[i] = ' '
	}
	b[DataOffset-1] = '\n'
	return b
}

func TestPyTuple(t *testing.T) {
	require.Equal(t, "()", pyTuple(nil))
	require.Equal(t, "(5,)", pyTuple([]int{5}))
	require.Equal(t, "(1000, 10)", pyTuple([]int{1000, 10}))
	require.Equal(t, "(0, 1, 2)", pyTuple([]int{0, 1, 2}))
}

func TestParseHeaderAccepts(t *testing.T) {
	for dict, want := range map[string]npyHeader{
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 10), }":  {Float64, []int{1000, 10}, 80000},
		`{"shape": (3,), "descr": "|u1", "fortran_order": False}`:          {Uint8, []int{3}, 3},
		"{'descr':'<i1','fortran_order':False,'shape':(2,3,)}":             {Int8, []int{2, 3}, 6},
		"{ 'descr' : '<c16' , 'fortran_order' : False , 'shape' : ( ) , }": {Complex128, nil, 16},
		"{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }":        {Int64, []int{0}, 0},
		"{'descr': '<u2',\n 'fortran_order': False,\t'shape': (4, 0, 9)}":  {Uint16, []int{4, 0, 9}, 0},
	} {
		h, err := parseHeader(headerPage(dict))
		require.NoError(t, err, dict)
		require.Equal(t, want, h, dict)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	for dict, want := range map[string]error{
		"":       ErrCorrupt,
		"{":      ErrCorrupt,
		"{}":     ErrCorrupt,
		"[1, 2]": ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 10), ":                    ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False}":                                          ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}":               ErrCorrupt,
		"{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,)}":           ErrCorrupt,
		"{'descr': '>f8', 'fortran_order': False, 'shape': (3,)}":                           ErrCorrupt,
		"{'descr': '<f16', 'fortran_order': False, 'shape': (3,)}":                          ErrCorrupt,
		"{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}":                           ErrCorrupt,
		"{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,)}":                  ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': True, 'shape': (3,)}":                            ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': 0, 'shape': (3,)}":                               ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3)}":                            ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,)}":                          ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (03,)}":                          ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3 4)}":                          ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}":            ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x":                         ErrCorrupt,
		"{'descr': '<f\\x38', 'fortran_order': False, 'shape': (3,)}":                       ErrCorrupt,
		"{'descr': '<f8, 'fortran_order': False, 'shape': (3,)}":                            ErrCorrupt,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}":     ErrTooLarge,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}": ErrTooLarge,
		"{'descr': '<f8', 'fortran_order': False, 'shape': (70368744177664,)}":              ErrTooLarge,
	} {
		_, err := parseHeader(headerPage(dict))
		require.ErrorIs(t, err, want, "%q", dict)
	}
	good := headerPage("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }")
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"short":          {good[:7], ErrBadMagic},
		"no magic":       {append([]byte("\x93NUMPZ"), good[6:]...), ErrBadMagic},
		"version 2.0":    {append(append([]byte{}, good[:6]...), append([]byte{2, 0}, good[8:]...)...), ErrBadMagic},
		"header len 118": {append(append([]byte{}, good[:8]...), append([]byte{118, 0}, good[10:]...)...), ErrBadMagic},
		"page cut":       {good[:4000], ErrTruncated},
		"NUL in padding": {func() []byte { b := slices.Clone(good); b[200] = 0; return b }(), ErrCorrupt},
	} {
		_, err := parseHeader(c.b)
		require.ErrorIs(t, err, c.want, name)
	}
}

func TestTrailerRoundTrip(t *testing.T) {
	m := Meta{DType: Complex64, Shape: []int{1, 2, 3, 4, 5, 6, 7, 8}, Kind: KindQueue, Flags: FlagPersistent,
		CreatorPID: 4242, CreatorStart: 987654321, Created: time.Unix(0, 1700000000123456789)}
	b := encodeTrailer(m)
	require.Len(t, b, TrailerSize)
	require.Equal(t, trailerMagic, string(b[:8]))
	require.Equal(t, make([]byte, TrailerSize-trFixedEnd), b[trFixedEnd:], "everything after the fixed fields is zero")
	got, err := parseTrailer(b)
	require.NoError(t, err)
	require.Equal(t, m, got)

	// Zero creation time and 0-d shape survive too.
	m0 := Meta{DType: Int8}
	got, err = parseTrailer(encodeTrailer(m0))
	require.NoError(t, err)
	require.Equal(t, m0, got)

	_, err = parseTrailer(b[:100])
	require.ErrorIs(t, err, ErrTruncated)
}

func TestTrailerFieldChecks(t *testing.T) {
	base := Meta{DType: Float64, Shape: []int{10, 3}, Kind: KindArray}
	for name, c := range map[string]struct {
		edit func([]byte)
		want error
	}{
		"dtype 0":         {func(b []byte) { b[trDType] = 0 }, ErrCorrupt},
		"dtype 13":        {func(b []byte) { b[trDType] = 13 }, ErrCorrupt},
		"kind 9":          {func(b []byte) { b[trKind] = 9 }, ErrCorrupt},
		"ndim 9":          {func(b []byte) { b[trNDim] = 9 }, ErrCorrupt},
		"pad byte":        {func(b []byte) { b[trPad] = 1 }, ErrCorrupt},
		"unknown flag":    {func(b []byte) { b[trFlags+1] = 1 }, ErrCorrupt},
		"shape past ndim": {func(b []byte) { b[trShape+8*5] = 1 }, ErrCorrupt},
		"negative dim":    {func(b []byte) { binary.LittleEndian.PutUint64(b[trShape:], 1<<63) }, ErrCorrupt},
		"data offset":     {func(b []byte) { b[trDataOff+1] = 0 }, ErrCorrupt},
		"data length":     {func(b []byte) { b[trDataLen]++ }, ErrCorrupt},
		"header length":   {func(b []byte) { b[trHeaderLen]++ }, ErrCorrupt},
		"negative pid":    {func(b []byte) { b[trPID+7] = 0x80 }, ErrCorrupt},
		"version 0":       {func(b []byte) { b[trVersion] = 0 }, ErrVersion},
		"magic":           {func(b []byte) { b[3] = 'x' }, ErrBadMagic},
		"shape too large": {func(b []byte) { binary.LittleEndian.PutUint64(b[trShape:], 1<<45) }, ErrCorrupt},
		"dims overflow":   {func(b []byte) { b[trNDim] = 3; binary.LittleEndian.PutUint64(b[trShape+16:], 1<<44) }, ErrCorrupt},
	} {
		b := encodeTrailer(base)
		c.edit(b)
		binary.LittleEndian.PutUint32(b[trCRC:], crcOf(b))
		_, err := parseTrailer(b)
		require.ErrorIs(t, err, c.want, name)
	}
}

func TestValidateImage(t *testing.T) {
	m := Meta{DType: Uint32, Shape: []int{5, 7}, Kind: KindArray, CreatorPID: 1, Created: time.Unix(5, 0)}
	img := fileImage(m)
	got, lay, err := validate(bytes.NewReader(img), int64(len(img)))
	require.NoError(t, err)
	require.Equal(t, m, got)
	require.Equal(t, layout{dataBytes: 140, trailerOff: 8192, size: 12288}, lay)
	// A reader that ends early (the file shrank after its size was taken).
	_, _, err = validate(bytes.NewReader(img[:9000]), int64(len(img)))
	require.ErrorIs(t, err, ErrTruncated)
	require.True(t, strings.Contains(err.Error(), "file ended at byte 9000"), err.Error())
}

func TestDTypes(t *testing.T) {
	sizes := map[DType]int{Int8: 1, Int16: 2, Int32: 4, Int64: 8, Uint8: 1, Uint16: 2, Uint32: 4, Uint64: 8, Float32: 4, Float64: 8, Complex64: 8, Complex128: 16}
	for d, size := range sizes {
		require.Equal(t, size, d.Size(), d.String())
		require.True(t, d.Valid())
		p, err := ParseDType(d.String())
		require.NoError(t, err)
		require.Equal(t, d, p)
		p, err = ParseDType(d.Descr())
		require.NoError(t, err)
		require.Equal(t, d, p)
	}
	require.Equal(t, "float64", Float64.String())
	require.Equal(t, "<f8", Float64.Descr())
	require.Equal(t, "|i1", Int8.Descr())
	require.Equal(t, "<c16", Complex128.Descr())
	require.Equal(t, "invalid", Invalid.String())
	require.Equal(t, "dtype(77)", DType(77).String())
	require.Zero(t, Invalid.Size())
	require.Empty(t, DType(77).Descr())
	p, err := ParseDType("<u1")
	require.NoError(t, err)
	require.Equal(t, Uint8, p)
	for _, bad := range []string{"", "float", ">f8", "|f8", "int", "<b1"} {
		_, err := ParseDType(bad)
		require.Error(t, err, bad)
	}

	type celsius float64
	type id uint16
	require.Equal(t, Float64, DTypeFor[celsius]())
	require.Equal(t, Uint16, DTypeFor[id]())
	require.Equal(t, Int8, DTypeFor[int8]())
	require.Equal(t, Int64, DTypeFor[int]())
	require.Equal(t, Uint64, DTypeFor[uint]())
	require.Equal(t, Uint8, DTypeFor[byte]())
	require.Equal(t, Complex64, DTypeFor[complex64]())
	require.Equal(t, Invalid, DTypeFor[bool]())
	require.Equal(t, Invalid, DTypeFor[uintptr]())
	require.Equal(t, Invalid, DTypeFor[*float64]())
	require.Equal(t, Invalid, DTypeFor[struct{ X int }]())
	require.Equal(t, Invalid, DTypeFor[any]())
	require.Equal(t, Invalid, DTypeFor[string]())

	require.Equal(t, "array", KindArray.String())
	require.Equal(t, "raw", KindRaw.String())
	require.Equal(t, "engine", KindEngine.String())
	require.Equal(t, "map", KindMap.String())
	require.Equal(t, "kind(9)", Kind(9).String())
	require.Equal(t, "persistent", FlagPersistent.String())
	require.Equal(t, "0", Flags(0).String())
	require.Equal(t, "persistent|0x4", (FlagPersistent | 4).String())
}

func TestMetaLen(t *testing.T) {
	for _, c := range []struct {
		shape []int
		n     int
	}{{nil, 1}, {[]int{}, 1}, {[]int{7}, 7}, {[]int{2, 3, 4}, 24}, {[]int{5, 0}, 0}, {[]int{-1}, -1}, {[]int{1 << 40, 1 << 40}, -1}, {[]int{1 << 40, 1 << 40, 0}, 0}} {
		m := Meta{DType: Int32, Shape: c.shape}
		require.Equal(t, c.n, m.Len(), "%v", c.shape)
		if c.n >= 0 {
			require.EqualValues(t, 4*c.n, m.DataBytes())
		} else {
			require.EqualValues(t, -1, m.DataBytes())
		}
	}
}

// TestTrailerGolden pins the worked example of docs/FORMAT.md byte for byte.
func TestTrailerGolden(t *testing.T) {
	m := Meta{DType: Float64, Shape: []int{1000, 10}, Kind: KindArray, CreatorPID: 4321, CreatorStart: 98765, Created: time.Unix(0, 1700000000000000005)}
	want := "" +
		"53484d5041520001" + "01000000" + "f60f0000" + // magic, version, npy header length
		"0a" + "01" + "02" + "00" + "00000000" + // dtype, kind, ndim, reserved, flags
		"e803000000000000" + "0a00000000000000" + strings.Repeat("0000000000000000", 6) + // shape
		"0010000000000000" + "8038010000000000" + // data offset, data length
		"e110000000000000" + "cd81010000000000" + "05002a36fe9c9717" + // pid, start, created
		"b6efec78" // CRC-32C
	b := encodeTrailer(m)
	require.Equal(t, want, hex.EncodeToString(b[:trFixedEnd]))
	require.Equal(t, uint32(0xe3069283), crc32.Checksum([]byte("123456789"), castagnoli), "the CRC-32C check value")
	require.Equal(t, layout{dataBytes: 80000, trailerOff: 86016, size: 90112}, layoutFor(m.DataBytes()))
}

// elementDType is DTypeFor for the types Element admits, so that the
// constraint is checked against the dtypes at compile time.
func elementDType[T Element]() DType { return DTypeFor[T]() }

// TestElementsHaveDTypes checks that every type the Element and Number
// constraints admit has a dtype, of its size, and that the complex ones are
// the only Elements that are not Numbers.
func TestElementsHaveDTypes(t *testing.T) {
	type celsius float64 // a named type counts as its underlying one
	for _, c := range []struct {
		dt   DType
		size uintptr
	}{
		{elementDType[int8](), 1}, {elementDType[int16](), 2}, {elementDType[int32](), 4}, {elementDType[int64](), 8},
		{elementDType[uint8](), 1}, {elementDType[uint16](), 2}, {elementDType[uint32](), 4}, {elementDType[uint64](), 8},
		{elementDType[int](), unsafe.Sizeof(int(0))}, {elementDType[uint](), unsafe.Sizeof(uint(0))},
		{elementDType[float32](), 4}, {elementDType[float64](), 8}, {elementDType[celsius](), 8},
		{elementDType[complex64](), 8}, {elementDType[complex128](), 16},
	} {
		require.True(t, c.dt.Valid(), "%v", c.dt)
		require.Equal(t, int(c.size), c.dt.Size(), "%v", c.dt)
	}
	require.Equal(t, Float64, numberDType[celsius]())
	require.Equal(t, Int64, numberDType[int64]())
}

func numberDType[T Number]() DType { return elementDType[T]() }
