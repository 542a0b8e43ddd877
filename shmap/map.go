package shmap

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmpar/shmpar/internal/proc"
	"github.com/shmpar/shmpar/shm"
)

// Map is a hash map from K to V in a shared-memory segment, which any
// number of processes use at once. Get one from Create, CreateAnon or Open,
// or by decoding one with encoding/gob (see GobDecode). Its methods may be
// called from several goroutines of several processes; see the package
// documentation for what each guarantees. A Map must not be copied (copy
// the pointer); its zero value is not usable.
type Map[K comparable, V any] struct {
	t        *table
	seg      *shm.Segment
	attached bool // mapping shared through shm.Attach; Close leaves it open
	closed   atomic.Bool
	str      bool // K is a string type
	ksize    int  // bytes of K, or the longest string key
}

// kbufWords is the key size, in words, that operations convert keys into
// without allocating.
const kbufWords = 16

// readTries bounds the lock-free attempts of a read before it takes the
// stripe's lock: a writer holds a bucket for tens of nanoseconds, so a
// reader that keeps finding it busy is likely waiting for a writer that was
// descheduled, or died, mid-write; the lock waits for the first and repairs
// after the second.
const readTries = 64

// Create creates a map named name, in the directory given by Dir (default
// shm.DefaultDir()), that holds up to capacity keys. The segment is sized
// and reserved at once: a full file system is an error here (wrapping
// shm.ErrNoSpace), never later. It returns an error wrapping ErrKeyType or
// ErrValueType when K or V cannot be stored (see the package
// documentation), ErrCapacity for a capacity out of range, and the errors of
// shm.Create (shm.ErrExist when the name is taken, shm.ErrBadName).
func Create[K comparable, V any](name string, capacity int, opts ...Option) (*Map[K, V], error) {
	o := getOptions(opts)
	h, err := newHeader[K, V](capacity, o)
	if err != nil {
		return nil, fmt.Errorf("shmap: create %s: %w", name, err)
	}
	seg, err := shm.Create(name, segMeta(h), o.seg...)
	if err != nil {
		return nil, fmt.Errorf("shmap: create: %w", err)
	}
	hook("create:segment")
	m, err := initMap[K, V](seg, h)
	if err != nil {
		seg.Close()
		_ = seg.Unlink()
		return nil, fmt.Errorf("shmap: create %s: %w", seg.Path(), err)
	}
	return m, nil
}

// CreateAnon creates an anonymous map (a memfd): nothing is left in any
// directory, and the memory is freed when the last process lets go of it.
// Other processes reach it through gob (a Map in a worker's arguments) or,
// while this process keeps it open, through its Path. Only the MaxKeyLen and
// Stripes options apply.
func CreateAnon[K comparable, V any](capacity int, opts ...Option) (*Map[K, V], error) {
	o := getOptions(opts)
	h, err := newHeader[K, V](capacity, o)
	if err != nil {
		return nil, fmt.Errorf("shmap: create anonymous map: %w", err)
	}
	seg, err := shm.CreateAnon("shmap", segMeta(h))
	if err != nil {
		return nil, fmt.Errorf("shmap: create anonymous map: %w", err)
	}
	m, err := initMap[K, V](seg, h)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("shmap: create anonymous map: %w", err)
	}
	return m, nil
}

// Open opens the map called name in the directory given by Dir. Before it
// touches any entry it checks the segment (through shm.Open: format, size,
// checksum; a file of another user, or one that group or others may write,
// is refused with shm.ErrForeign unless the AllowForeign option is given),
// that the segment is a map (ErrNotMap), the map's header
// (ErrVersion; ErrCorrupt for a bad checksum or an impossible layout), and
// that the map holds keys of type K (ErrKeyType) and values of type V
// (ErrValueType). Types match when their layouts do: the kinds, sizes and
// struct field names and offsets, not the type names.
func Open[K comparable, V any](name string, opts ...Option) (*Map[K, V], error) {
	o := getOptions(opts)
	seg, err := shm.Open(name, o.seg...)
	if err != nil {
		return nil, fmt.Errorf("shmap: open: %w", err)
	}
	m, err := wrap[K, V](seg, false)
	if err != nil {
		seg.Close()
		return nil, fmt.Errorf("shmap: open %s: %w", seg.Path(), err)
	}
	return m, nil
}

// newHeader checks K, V and the sizes and returns the header of a new map.
func newHeader[K comparable, V any](capacity int, o options) (header, error) {
	ki, vi := keyInfo(reflect.TypeFor[K]()), valueInfo(reflect.TypeFor[V]())
	if ki.reason != "" {
		return header{}, fmt.Errorf("%w: key type %s: %s", ErrKeyType, ki.name, ki.reason)
	}
	if vi.reason != "" {
		return header{}, fmt.Errorf("%w: value type %s: %s", ErrValueType, vi.name, vi.reason)
	}
	h := header{
		stringKey: ki.str,
		keySize:   ki.size,
		valSize:   vi.size,
		capacity:  capacity,
		buckets:   capacity,
		stripes:   min(o.stripes, max(capacity, 1)),
		seed:      rand.Uint64(),
		keySig:    ki.hash,
		valSig:    vi.hash,
		keyName:   ki.name,
		valName:   vi.name,
	}
	if ki.str {
		h.keySize = o.maxKeyLen
	}
	if o.stripes < 1 {
		h.stripes = o.stripes // for the error
	}
	if err := checkSizes(h.keySize, h.stringKey, h.valSize, h.stripes, h.capacity, h.buckets); err != nil {
		return header{}, err
	}
	h.layout = layoutFor(h.keySize, h.stringKey, h.valSize, h.stripes, h.capacity)
	if h.end > shm.MaxDataBytes {
		return header{}, fmt.Errorf("%w: %d entries of %d bytes need %d bytes, more than a segment holds (%d)",
			ErrCapacity, capacity, h.slotSize, h.end, int64(shm.MaxDataBytes))
	}
	return h, nil
}

// segMeta is the segment a map with header h lives in: a segment of kind
// shm.KindMap holding bytes, the data region exactly as long as the map.
func segMeta(h header) shm.Meta {
	return shm.Meta{DType: shm.Uint8, Shape: []int{h.end}, Kind: shm.KindMap}
}

// initMap writes h into a new segment's data region, and the allocator's
// initial bits, and returns the map. The magic goes in last, with an atomic
// store, so that a process opening the file meanwhile sees either no magic
// or the whole map.
func initMap[K comparable, V any](seg *shm.Segment, h header) (*Map[K, V], error) {
	data := seg.Data()
	if len(data) != h.end {
		return nil, fmt.Errorf("%w: segment has %d data bytes, want %d", ErrCorrupt, len(data), h.end)
	}
	b := h.encode()
	copy(data[8:headerSize], b[8:])
	m := newMap[K, V](seg, h, false)
	m.t.initAlloc()
	magicWord(data).Store(native(b[:8]))
	return m, nil
}

func magicWord(data []byte) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&data[0])) }

func newMap[K comparable, V any](seg *shm.Segment, h header, attached bool) *Map[K, V] {
	m := &Map[K, V]{
		t:        newTable(unsafe.Pointer(unsafe.SliceData(seg.Data())), h),
		seg:      seg,
		attached: attached,
		str:      h.stringKey,
		ksize:    h.keySize,
	}
	return m
}

// creatingWait bounds how long Open waits for the header of a map whose
// creator is still writing it.
const creatingWait = 2 * time.Second

// wrap checks that seg holds a map from K to V and returns it.
func wrap[K comparable, V any](seg *shm.Segment, attached bool) (*Map[K, V], error) {
	meta := seg.Meta()
	data := seg.Data()
	if meta.Kind == shm.KindRaw && meta.DType == shm.Uint8 && len(data) >= len(headerMagic) && string(data[:len(headerMagic)]) == headerMagic {
		return nil, fmt.Errorf("%w: a raw segment holding a map of the format before maps had their own segment kind; create it again", ErrNotMap)
	}
	if meta.Kind != shm.KindMap || meta.DType != shm.Uint8 || len(meta.Shape) != 1 {
		return nil, fmt.Errorf("%w: a segment of kind %s (%s, shape %v)", ErrNotMap, meta.Kind, meta.DType, meta.Shape)
	}
	if len(data) < headerSize {
		return nil, fmt.Errorf("%w: a data region of %d bytes cannot hold the %d-byte map header", ErrNotMap, len(data), headerSize)
	}
	// Create writes the header just after the file appears; a map that is
	// that young and still has no magic is waited for, briefly, while its
	// creator lives.
	creator := proc.ID{PID: meta.CreatorPID, Start: meta.CreatorStart}
	for deadline := time.Now().Add(creatingWait); magicWord(data).Load() == 0 && time.Since(meta.Created) < creatingWait && time.Now().Before(deadline); {
		if alive, err := proc.Alive(creator); err != nil || !alive {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if magicWord(data).Load() == 0 && allZero(data[:headerSize]) {
		why := "its header is all zeros"
		if alive, err := proc.Alive(creator); err == nil && !alive {
			why = fmt.Sprintf("its creator (pid %d) died before writing its header; remove the file", meta.CreatorPID)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotMap, why)
	}
	var hb [headerSize]byte
	putNative(hb[:], magicWord(data).Load())
	copy(hb[8:], data[8:headerSize])
	h, err := parseHeader(hb[:], len(data))
	if err != nil {
		return nil, err
	}
	ki, vi := keyInfo(reflect.TypeFor[K]()), valueInfo(reflect.TypeFor[V]())
	switch {
	case ki.str != h.stringKey || ki.hash != h.keySig || !ki.str && ki.size != h.keySize:
		return nil, fmt.Errorf("%w: the map's keys are %s (%s), not %s (%s)", ErrKeyType, h.keyName, keyDesc(h.stringKey, h.keySize), ki.name, keyDesc(ki.str, ki.size))
	case ki.reason != "":
		return nil, fmt.Errorf("%w: key type %s: %s", ErrKeyType, ki.name, ki.reason)
	case vi.hash != h.valSig || vi.size != h.valSize:
		return nil, fmt.Errorf("%w: the map's values are %s (%d bytes), not %s (%d bytes)", ErrValueType, h.valName, h.valSize, vi.name, vi.size)
	case vi.reason != "":
		return nil, fmt.Errorf("%w: value type %s: %s", ErrValueType, vi.name, vi.reason)
	}
	return newMap[K, V](seg, h, attached), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func keyDesc(str bool, size int) string {
	if str {
		return fmt.Sprintf("strings of at most %d bytes", size)
	}
	return fmt.Sprintf("%d bytes", size)
}

// ---- keys and values ----

// keyWords converts key into the words an entry stores (see doc.go), in buf
// if it is long enough. It reports false for a string key longer than the
// map's maximum, which cannot be in the map.
func (m *Map[K, V]) keyWords(key *K, buf []uint64) ([]uint64, bool) {
	n := m.t.kwords
	if n > len(buf) {
		buf = make([]uint64, n)
	}
	kw := buf[:n]
	var b []byte
	if m.str {
		s := *(*string)(unsafe.Pointer(key))
		if len(s) > m.ksize {
			return nil, false
		}
		kw[0] = uint64(len(s))
		kw = kw[1:]
		b = unsafe.Slice(unsafe.StringData(s), len(s))
	} else {
		b = unsafe.Slice((*byte)(unsafe.Pointer(key)), m.ksize)
	}
	full := len(b) / 8
	for i := range full {
		kw[i] = native(b[8*i:])
	}
	i := full
	if len(b)%8 != 0 {
		kw[i] = tailWord(b[8*full:])
		i++
	}
	clear(kw[i:])
	return buf[:n], true
}

// keyFromWords is the inverse of keyWords.
func (m *Map[K, V]) keyFromWords(kw []uint64) K {
	var k K
	if m.str {
		n := min(int(kw[0]), m.ksize)
		b := make([]byte, 8*(len(kw)-1))
		for i, w := range kw[1:] {
			putNative(b[8*i:], w)
		}
		*(*string)(unsafe.Pointer(&k)) = string(b[:n])
		return k
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&k)), m.ksize)
	full := len(b) / 8
	for i := range full {
		putNative(b[8*i:], kw[i])
	}
	if r := len(b) % 8; r != 0 {
		var tmp [8]byte
		putNative(tmp[:], kw[full])
		copy(b[8*full:], tmp[:r])
	}
	return k
}

// bytesOf returns the bytes of *v, which has n bytes.
func bytesOf[T any](v *T, n int) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(v)), n) }

// ---- operations ----

// prep checks that m is open, converts key and finds its bucket.
func (m *Map[K, V]) prep(key *K, buf []uint64) (kw []uint64, b uint64, fits bool, err error) {
	if m == nil || m.t == nil || m.closed.Load() {
		return nil, 0, false, ErrClosed
	}
	kw, fits = m.keyWords(key, buf)
	if !fits {
		return nil, 0, false, nil
	}
	return kw, m.t.bucketOfKey(kw), true, nil
}

func (m *Map[K, V]) opErr(op string, err error) error {
	if err == ErrClosed || m == nil || m.seg == nil {
		return fmt.Errorf("shmap: %s: %w", op, err)
	}
	return fmt.Errorf("shmap: %s in %s: %w", op, m.seg.Path(), err)
}

func (m *Map[K, V]) tooLong(op string, key *K) error {
	return m.opErr(op, fmt.Errorf("%w: a key of %d bytes, this map's keys have at most %d", ErrKeyTooLong, len(*(*string)(unsafe.Pointer(key))), m.ksize))
}

// Load returns the value stored for key, and whether there was one. It
// takes no lock unless writers keep the key's bucket busy: it reads the
// bucket's version, the chain and the value, and reads the version again.
// The value returned was stored in the map at one moment during the call;
// it is never a mix of two stores. An error (ErrCorrupt, ErrClosed) means
// the map could not be read.
func (m *Map[K, V]) Load(key K) (value V, ok bool, err error) {
	var buf [kbufWords]uint64
	kw, b, fits, err := m.prep(&key, buf[:])
	if err != nil || !fits {
		return value, false, m.errOrNil("load", err)
	}
	dst := bytesOf(&value, m.t.vsize)
	for i := range readTries {
		switch m.t.tryLoad(b, kw, dst) {
		case readHit:
			return value, true, nil
		case readMiss:
			var zero V
			return zero, false, nil
		case readCorrupt:
			var zero V
			return zero, false, m.opErr("load", m.t.corrupt("bucket %d: chain leaves the table or loops", b))
		}
		if i >= 8 {
			runtime.Gosched()
		}
	}
	ok, err = m.loadLocked(b, kw, dst)
	if !ok || err != nil {
		var zero V
		return zero, false, m.errOrNil("load", err)
	}
	return value, true, nil
}

func (m *Map[K, V]) errOrNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return m.opErr(op, err)
}

// loadLocked is Load under the stripe's lock: the slow path, and the twin
// the lock-free path is tested against.
func (m *Map[K, V]) loadLocked(b uint64, kw []uint64, dst []byte) (bool, error) {
	t := m.t
	st, err := t.lockStripe(t.stripeOf(b))
	if err != nil {
		return false, err
	}
	e, _, err := t.findLocked(b, kw)
	if err == nil && e != 0 {
		t.readValue(t.entry(e-1), dst)
	}
	if uerr := t.unlockStripe(st); err == nil {
		err = uerr
	}
	return err == nil && e != 0, err
}

// held is a key whose stripe lock an operation holds: its words, its
// bucket, and the index+1 of its entry and of the entry's predecessor (0
// when the key is absent).
type held struct {
	st      *stripe
	b       uint64
	kw      []uint64
	e, prev uint32
}

// lock converts key (into buf if it fits), locks its stripe and finds its
// entry. It reports false, with nothing locked, when the operation has
// nothing more to do: on an error, and for a string key longer than the
// map's maximum (ErrKeyTooLong if write is set; nil otherwise, since such a
// key cannot be in the map).
func (m *Map[K, V]) lock(op string, key *K, write bool, buf []uint64) (held, bool, error) {
	kw, b, fits, err := m.prep(key, buf)
	if err != nil {
		return held{}, false, m.opErr(op, err)
	}
	if !fits {
		if write {
			return held{}, false, m.tooLong(op, key)
		}
		return held{}, false, nil
	}
	t := m.t
	st, err := t.lockStripe(t.stripeOf(b))
	if err != nil {
		return held{}, false, m.opErr(op, err)
	}
	e, prev, err := t.findLocked(b, kw)
	if err != nil {
		_ = t.unlockStripe(st)
		return held{}, false, m.opErr(op, err)
	}
	return held{st: st, b: b, kw: kw, e: e, prev: prev}, true, nil
}

// unlock releases what lock took and returns the operation's error, or the
// unlock's.
func (m *Map[K, V]) unlock(op string, h *held, err error) error {
	if uerr := m.t.unlockStripe(h.st); err == nil {
		err = uerr
	}
	if err != nil {
		return m.opErr(op, err)
	}
	return nil
}

// set stores src for the held key: over its entry if it is there, else in
// a new entry.
func (m *Map[K, V]) set(h *held, src []byte) error {
	if h.e != 0 {
		m.t.update(h.st, h.b, h.e, src)
		return nil
	}
	return m.t.insert(m.t.stripeOf(h.b), h.st, h.b, h.kw, src)
}

// Store sets the value for key. It returns an error wrapping ErrFull when
// key is new and the map is full (nothing is overwritten), and
// ErrKeyTooLong for a string key longer than the map's maximum.
func (m *Map[K, V]) Store(key K, value V) error {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("store", &key, true, buf[:])
	if !ok {
		return err
	}
	return m.unlock("store", &h, m.set(&h, bytesOf(&value, m.t.vsize)))
}

// LoadOrStore returns the value stored for key if there is one (loaded
// true); otherwise it stores value and returns it (loaded false). Like
// Python's dict.setdefault.
func (m *Map[K, V]) LoadOrStore(key K, value V) (actual V, loaded bool, err error) {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("load or store", &key, true, buf[:])
	if !ok {
		return actual, false, err
	}
	if h.e != 0 {
		m.t.readValue(m.t.entry(h.e-1), bytesOf(&actual, m.t.vsize))
		return actual, true, m.unlock("load or store", &h, nil)
	}
	if err := m.unlock("load or store", &h, m.set(&h, bytesOf(&value, m.t.vsize))); err != nil {
		return actual, false, err
	}
	return value, false, nil
}

// LoadAndDelete deletes the value for key, returning the previous value if
// any (loaded true). Like Python's dict.pop.
func (m *Map[K, V]) LoadAndDelete(key K) (value V, loaded bool, err error) {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("load and delete", &key, false, buf[:])
	if !ok || h.e == 0 {
		if ok {
			err = m.unlock("load and delete", &h, nil)
		}
		return value, false, err
	}
	m.t.readValue(m.t.entry(h.e-1), bytesOf(&value, m.t.vsize))
	if err := m.unlock("load and delete", &h, m.t.remove(h.st, h.b, h.e, h.prev)); err != nil {
		var zero V
		return zero, false, err
	}
	return value, true, nil
}

// Delete deletes the value for key; a key that is not there is no error.
func (m *Map[K, V]) Delete(key K) error {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("delete", &key, false, buf[:])
	if !ok {
		return err
	}
	if h.e != 0 {
		err = m.t.remove(h.st, h.b, h.e, h.prev)
	}
	return m.unlock("delete", &h, err)
}

// Swap stores value for key and returns the previous value if any (loaded
// true).
func (m *Map[K, V]) Swap(key K, value V) (previous V, loaded bool, err error) {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("swap", &key, true, buf[:])
	if !ok {
		return previous, false, err
	}
	if h.e != 0 {
		m.t.readValue(m.t.entry(h.e-1), bytesOf(&previous, m.t.vsize))
	}
	if err := m.unlock("swap", &h, m.set(&h, bytesOf(&value, m.t.vsize))); err != nil {
		var zero V
		return zero, false, err
	}
	return previous, h.e != 0, nil
}

// CompareAndSwap stores new for key if the value stored for key is old, and
// reports whether it did. Values are compared by their bytes (as
// sync/atomic compares floats by their bits). A key that is not there is
// never swapped.
func (m *Map[K, V]) CompareAndSwap(key K, old, new V) (swapped bool, err error) {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("compare and swap", &key, false, buf[:])
	if !ok {
		return false, err
	}
	if h.e != 0 && m.valueIs(h.e, &old) {
		m.t.update(h.st, h.b, h.e, bytesOf(&new, m.t.vsize))
		swapped = true
	}
	if err := m.unlock("compare and swap", &h, nil); err != nil {
		return false, err
	}
	return swapped, nil
}

// CompareAndDelete deletes key if its value is old (compared by bytes, as
// in CompareAndSwap), and reports whether it did.
func (m *Map[K, V]) CompareAndDelete(key K, old V) (deleted bool, err error) {
	var buf [kbufWords]uint64
	h, ok, err := m.lock("compare and delete", &key, false, buf[:])
	if !ok {
		return false, err
	}
	if h.e != 0 && m.valueIs(h.e, &old) {
		err = m.t.remove(h.st, h.b, h.e, h.prev)
		deleted = true
	}
	if err := m.unlock("compare and delete", &h, err); err != nil {
		return false, err
	}
	return deleted, nil
}

// valueIs reports whether entry e (index+1) holds *v; the caller holds its
// stripe.
func (m *Map[K, V]) valueIs(e uint32, v *V) bool {
	p := m.t.entry(e - 1)
	src := bytesOf(v, m.t.vsize)
	n := len(src) / 8
	for i := range n {
		if m.t.valWord(p, i).Load() != native(src[8*i:]) {
			return false
		}
	}
	return len(src)%8 == 0 || m.t.valWord(p, n).Load() == tailWord(src[8*n:])
}

// Update replaces the value for key with fn(old, loaded), where loaded says
// whether key was there (old is the zero value if not), and returns the new
// value: a read-modify-write no other process can interleave with, such as
// Python's "with lock: d[k] += 1". fn runs holding the lock of key's
// stripe, so it must be quick and must not use the map; if it panics,
// nothing is stored, the lock is released and the panic goes on. A new key
// in a full map gives ErrFull and fn's value is not stored.
func (m *Map[K, V]) Update(key K, fn func(old V, loaded bool) V) (V, error) {
	var buf [kbufWords]uint64
	var val V
	h, ok, err := m.lock("update", &key, true, buf[:])
	if !ok {
		return val, err
	}
	var old V
	if h.e != 0 {
		m.t.readValue(m.t.entry(h.e-1), bytesOf(&old, m.t.vsize))
	}
	val = m.call(&h, fn, old)
	if err := m.unlock("update", &h, m.set(&h, bytesOf(&val, m.t.vsize))); err != nil {
		var zero V
		return zero, err
	}
	return val, nil
}

// call runs Update's fn; if fn panics, it releases the held stripe (nothing
// was written yet) before the panic goes on.
func (m *Map[K, V]) call(h *held, fn func(V, bool) V, old V) V {
	done := false
	defer func() {
		if !done {
			_ = m.t.unlockStripe(h.st)
		}
	}()
	v := fn(old, h.e != 0)
	done = true
	return v
}

// Len returns the number of keys in the map: the sum of the per-stripe
// counts, each read atomically, so under concurrent writes it is a count
// that each stripe had at some moment during the call.
func (m *Map[K, V]) Len() int {
	if m == nil || m.t == nil || m.closed.Load() {
		return 0
	}
	return m.t.count()
}

// Cap returns the number of keys the map can hold.
func (m *Map[K, V]) Cap() int {
	if m == nil || m.t == nil {
		return 0
	}
	return int(m.t.cap)
}

// MaxKeyLen returns the longest string key the map holds, in bytes, or 0
// for a map whose keys are not strings.
func (m *Map[K, V]) MaxKeyLen() int {
	if m == nil || !m.str {
		return 0
	}
	return m.ksize
}

// Range calls f for each key and value in the map, in bucket order, until f
// returns false. Each bucket is copied at one moment (a snapshot, taken
// without a lock like Load) and f runs on the copy with no lock held, so f
// may use the map. The whole is weakly consistent, like sync.Map.Range: a
// key present for the whole call is seen exactly once; one stored or
// deleted during the call may or may not be seen; no key is seen twice.
func (m *Map[K, V]) Range(f func(key K, value V) bool) error {
	if m == nil || m.t == nil || m.closed.Load() {
		return m.opErr("range", ErrClosed)
	}
	t := m.t
	var snap []uint64
	per := t.kwords + t.vwords
	for b := range t.nb {
		var err error
		snap, err = m.snapshot(b, snap[:0])
		if err != nil {
			return m.opErr("range", err)
		}
		for off := 0; off < len(snap); off += per {
			var v V
			getWordsFrom(bytesOf(&v, t.vsize), snap[off+t.kwords:off+per])
			if !f(m.keyFromWords(snap[off:off+t.kwords]), v) {
				return nil
			}
		}
	}
	return nil
}

func getWordsFrom(dst []byte, words []uint64) {
	full := len(dst) / 8
	for i := range full {
		putNative(dst[8*i:], words[i])
	}
	if r := len(dst) % 8; r != 0 {
		var tmp [8]byte
		putNative(tmp[:], words[full])
		copy(dst[8*full:], tmp[:r])
	}
}

// snapshot appends the key and value words of bucket b's entries to buf,
// read without a lock and checked against the bucket's version (retried,
// then read under the stripe's lock, as Load does).
func (m *Map[K, V]) snapshot(b uint64, buf []uint64) ([]uint64, error) {
	t := m.t
	bw := t.bucket(b)
	for i := range readTries {
		buf = buf[:0]
		w := bw.Load()
		if w&verOne == 0 {
			if got, ok := t.appendChain(buf, b, uint32(w)); ok && bw.Load() == w {
				return got, nil
			} else if !ok && bw.Load() == w {
				return buf, t.corrupt("bucket %d: chain leaves the table or loops", b)
			}
		}
		if i >= 8 {
			runtime.Gosched()
		}
	}
	st, err := t.lockStripe(t.stripeOf(b))
	if err != nil {
		return buf, err
	}
	got, ok := t.appendChain(buf[:0], b, uint32(bw.Load()))
	if err := t.unlockStripe(st); err != nil {
		return buf, err
	}
	if !ok {
		return buf, t.corrupt("bucket %d: chain leaves the table or loops", b)
	}
	return got, nil
}

// appendChain appends the key and value words of bucket b's chain,
// starting at entry e (index+1), to buf. It reports false if the chain
// leaves the table, is longer than the map (a loop), or holds an entry that
// is not its stripe's.
func (t *table) appendChain(buf []uint64, b uint64, e uint32) ([]uint64, bool) {
	own := owned(t.stripeOf(b))
	for steps := uint32(0); e != 0; steps++ {
		if e > t.cap || steps >= t.maxSteps {
			return buf, false
		}
		p := t.entry(e - 1)
		if state(p).Load() != own {
			return buf, false
		}
		for i := range t.kwords {
			buf = append(buf, t.keyWord(p, i).Load())
		}
		for i := range t.vwords {
			buf = append(buf, t.valWord(p, i).Load())
		}
		e = next(p).Load()
	}
	return buf, true
}

// Clear deletes every key, one stripe after another, each under its lock.
// It is not one atomic step: a reader may see some keys gone and others
// not yet, and a key stored into a stripe already cleared stays.
func (m *Map[K, V]) Clear() error {
	if m == nil || m.t == nil || m.closed.Load() {
		return m.opErr("clear", ErrClosed)
	}
	t := m.t
	for s := range t.ns {
		st, err := t.lockStripe(s)
		if err != nil {
			return m.opErr("clear", err)
		}
		for b := s; b < t.nb && err == nil; b += t.ns {
			for steps := uint32(0); err == nil; steps++ {
				e := uint32(t.bucket(b).Load())
				if e == 0 {
					break
				}
				if e > t.cap || steps >= t.maxSteps || state(t.entry(e-1)).Load() != owned(s) {
					err = t.corrupt("bucket %d: chain leaves the table, loops, or holds an entry not of its stripe", b)
					break
				}
				err = t.remove(st, b, e, 0)
			}
		}
		if uerr := t.unlockStripe(st); err == nil {
			err = uerr
		}
		if err != nil {
			return m.opErr("clear", err)
		}
	}
	return nil
}

// Name returns the map's segment name (for an anonymous map, its label).
func (m *Map[K, V]) Name() string { return m.seg.Name() }

// Path returns the map's file path; for an anonymous map a
// /proc/PID/fd/FD path, valid while this process keeps the map open.
func (m *Map[K, V]) Path() string { return m.seg.Path() }

// Segment returns the segment the map lives in.
func (m *Map[K, V]) Segment() *shm.Segment { return m.seg }

// Close unmaps the map in this process; the map stays for the others, and a
// named one stays until Unlink. Later calls of the methods return
// ErrClosed. Close must not run while another goroutine still uses the
// map. Closing a Map decoded from a gob stream (one that shares a
// process-wide mapping) only makes this Map unusable.
func (m *Map[K, V]) Close() error {
	if m == nil || m.seg == nil || m.closed.Swap(true) {
		return nil
	}
	if m.attached {
		return nil
	}
	if err := m.seg.Close(); err != nil {
		return fmt.Errorf("shmap: close: %w", err)
	}
	return nil
}

// Unlink removes the map's name; processes that have it open keep it until
// they close it. For an anonymous map it does nothing.
func (m *Map[K, V]) Unlink() error {
	if err := m.seg.Unlink(); err != nil {
		return fmt.Errorf("shmap: unlink: %w", err)
	}
	return nil
}
