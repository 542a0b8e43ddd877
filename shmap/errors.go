package shmap

import "errors"

// Sentinel errors. Every error this package returns for one of these causes
// wraps it, so test with errors.Is; the message around it names the map's
// file and says what exactly was wrong. Errors of packages shm and lock
// (shm.ErrExist, shm.ErrNotExist, shm.ErrTruncated, ...) are wrapped as
// they are.
var (
	// ErrFull is returned by Store, LoadOrStore, Swap and Update when the
	// key is not in the map and every one of its Cap entries is in use.
	// Nothing is overwritten; delete a key to make room.
	ErrFull = errors.New("map full")

	// ErrKeyType is returned by Create for a key type a map cannot hold
	// (one holding pointers or floating-point numbers, or a struct with
	// padding) and by Open when the file's keys are of another type.
	ErrKeyType = errors.New("unsupported or mismatched key type")

	// ErrValueType is returned by Create for a value type that holds
	// pointers (strings, slices, maps, pointers, interfaces, channels,
	// functions) and by Open when the file's values are of another type.
	ErrValueType = errors.New("unsupported or mismatched value type")

	// ErrKeyTooLong is returned when a string key is longer than the map's
	// MaxKeyLen bytes (Load and the other read-only methods report such a
	// key as absent instead, since it cannot be in the map).
	ErrKeyTooLong = errors.New("key longer than the map's maximum")

	// ErrCapacity is returned by Create and CreateAnon for a capacity below
	// 1 or above MaxCapacity, or a map too large for a segment, and for a
	// Stripes or MaxKeyLen option out of range.
	ErrCapacity = errors.New("invalid map capacity")

	// ErrNotMap is returned when the segment opened is not a map: a
	// segment of another kind than shm.KindMap (an array, a queue, raw
	// bytes, among them maps of the format before maps had a kind of
	// their own), or a map segment without the map's magic.
	ErrNotMap = errors.New("segment is not a map")

	// ErrVersion is returned when a map's header has a layout version this
	// package does not read.
	ErrVersion = errors.New("unsupported map layout version")

	// ErrCorrupt is returned when a map's header fails its checksum or
	// describes an impossible layout, and when an operation finds the
	// table in a state no crash can leave (an index out of range, a chain
	// that loops, an entry owned by another stripe): the segment was
	// damaged by something other than this package. The part of the map
	// where the damage was found is not usable after it.
	ErrCorrupt = errors.New("map corrupt")

	// ErrClosed is returned by every method of a Map after its Close.
	ErrClosed = errors.New("map closed")
)
