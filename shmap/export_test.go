//go:build linux

package shmap

import "unsafe"

// SetTestHook sets the function called at the named points of the write
// protocol (nil: none), so that a test can kill the process there.
func SetTestHook(f func(point string)) { testHook = f }

func unsafePointer[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

// LinksBehind reports whether a Store of k, a key not in m, would put its
// entry outside its bucket's home block, behind an entry of that block
// (the insert that links its entry after a predecessor).
func LinksBehind[K comparable, V any](m *Map[K, V], k K) bool {
	var buf [kbufWords]uint64
	_, b, _, err := m.prep(&k, buf[:])
	if err != nil {
		return false
	}
	t := m.t
	lo := uint32(b) / t.group * t.group
	for e := lo; e < min(lo+t.group, t.cap); e++ {
		if !t.used(e) {
			return false
		}
	}
	head := uint32(t.bucket(b).Load())
	return head != 0 && t.inBlock(b, head-1)
}

// ChainPos returns the position of k in its bucket's chain (0: first), or
// -1 if k is not in m.
func ChainPos[K comparable, V any](m *Map[K, V], k K) int {
	var buf [kbufWords]uint64
	kw, b, _, err := m.prep(&k, buf[:])
	if err != nil {
		return -1
	}
	t := m.t
	pos := 0
	for cur := uint32(t.bucket(b).Load()); cur != 0 && pos <= int(t.cap); cur = next(t.entry(cur - 1)).Load() {
		if t.keyEqual(t.entry(cur-1), t.usedWords(kw)) {
			return pos
		}
		pos++
	}
	return -1
}

// BucketWord returns the word (version and first entry) of k's bucket.
func BucketWord[K comparable, V any](m *Map[K, V], k K) uint64 {
	var buf [kbufWords]uint64
	_, b, _, err := m.prep(&k, buf[:])
	if err != nil {
		return 0
	}
	return m.t.bucket(b).Load()
}
