// Package shmap provides Map[K, V], a typed hash map in a shared-memory
// segment that any number of processes read and write at once: Python's
// multiprocessing.Manager().dict() without the server process. A Load is a
// few memory reads, with no lock and no system call; a Store takes one of
// the map's robust locks for tens of nanoseconds. Nothing is serialized:
// keys and values are copied in and out as bytes.
//
// A map is named (a file in /dev/shm or any directory, like an Array:
// Create, Open, Unlink) or anonymous (a memfd: CreateAnon), and crosses to
// worker and spawned processes inside their arguments, by gob, as a
// reference to its segment (GobEncode). Its capacity is fixed at creation:
// a new key in a full map is refused with ErrFull, never stored over
// another.
//
// # Keys and values
//
// Keys are compared and hashed by their bytes. A key type is an integer
// type, bool, or an array or struct of those without padding ([16]byte,
// struct{ X, Y int32 }), or a string type: string keys take up to
// MaxKeyLen bytes (an option of Create, DefaultMaxKeyLen by default), and
// each entry reserves that many. Floating-point keys are refused (+0 and
// -0 would be different keys and NaN would be found), as are types holding
// pointers. A value type is any type without pointers: numbers, bool,
// arrays and structs of them; struct{} makes a set. Create and Open check
// K and V once, with reflect, and refuse others with ErrKeyType or
// ErrValueType. Open compares layouts, not names: the file records each
// type's kinds, sizes and struct field names and offsets, so a program may
// open a map with its own struct type of the same layout.
//
// # Layout
//
// The map is the data region of an shm segment of kind shm.KindMap (a
// uint8 array as numpy sees it; "map" in shmctl ls), between shm's header
// page and its trailer page:
//
//	data +0      +----------------------------------------------------+
//	             | header, 256 bytes, written once, CRC-32C at +248:  |
//	             | magic "SHMAP\0\0\1", version, key and value sizes  |
//	             | and type signatures, capacity, buckets, stripes,   |
//	             | hash seed, every offset below, the total length    |
//	     +256    | allocator line: allocMu | ajob | hint             |
//	     +320    | stripe 0: mu | jrec | count | - | jval...          |  64-byte
//	             | stripe 1 ...  (S stripes)                          |  aligned
//	     M       | bitmap: a bit per entry, set while it is in use;   |
//	             | then its summary: a bit per bitmap word, set only  |
//	             | while the word is full                             |
//	     L       | slot 0: bucket 0's word | entry 0                  |  4096-byte
//	             | slot 1 ...    (Cap slots)                          |  aligned
//	     end     +----------------------------------------------------+
//
//	bucket word: version<<32 | index+1 of the chain's first entry (0: empty)
//	entry:       next (index+1) | state | key words | value words
//
// A key occupies its size rounded up to 8 bytes (a string key: a length
// word and MaxKeyLen bytes rounded up); a value likewise. With V the value
// size rounded up to 8, slot = 16 + key + V and W = ceil(Cap/64):
//
//	stripe = roundup(32 + V, 64)
//	M      = roundup(320 + S*stripe, 64)
//	L      = roundup(M + 8*(W + ceil(W/64)), 4096)
//	end    = L + Cap*slot
//	file   = 4096 + roundup(end, 4096) + 4096
//
// so a map of 8-byte keys and values takes 32 bytes and a bit per entry,
// about 2.01 times the raw 16, plus a fixed 12 KiB or so.
//
// There are as many buckets as entries, and slot i holds both bucket i's
// word and entry i. Each bucket is the head of a chain of entries, which
// may lie in any slot; an entry's state word says whether it is free or
// belongs to stripe s (and is in one of its buckets), and the bitmap, the
// allocator's, says which entries are free. A new key of bucket b takes
// b's own slot if it is free, else a free slot of b's home block (the 128
// bytes around b's slot, two cache lines the processor fetches together),
// else one in the same 4 KiB page, else the first the bitmap search finds;
// a chain keeps the entries of its home block first. So a lookup mostly
// finds its key in the lines it read the bucket word from: with every
// entry in use, 1.34 home blocks per lookup on average, 1.07 pages (a map
// half full: 1.04 blocks), where keeping buckets and entries apart took two
// cache and TLB misses and more. Bucket b belongs to stripe b mod S, whose
// robust lock.Mutex every writer of the bucket holds; the allocator has a
// lock of its own, always taken after a stripe's.
//
// # Reads
//
// Load hashes the key with the map's seed, reads the bucket word (in the
// key's home slot), walks the chain comparing keys, copies the value out,
// and reads the bucket word again: if it changed, or its version was odd (a value being overwritten),
// it tries again, and after 64 tries reads under the stripe's lock (which
// waits for a writer that was descheduled mid-write, and repairs after one
// that died). Every change to a chain or a value changes its bucket's
// word, and an entry is unlinked (which changes it) before it can be
// reused, so a read that saw the same even word twice saw one state of the
// chain: Load returns a value that was in the map at one moment of the call,
// never half of one write and half of another. Keys and values are read and
// written as 8-byte atomic words.
//
// Range copies one bucket at a time in the same way and calls its function
// on the copy, with no lock held: each bucket is a snapshot, the whole is
// weakly consistent (a key present throughout is seen once; one stored or
// deleted during the Range may or may not be). Len adds up per-stripe
// counts. Clear deletes stripe by stripe.
//
// # Writes and crash guarantees
//
// A writer holds its stripe's lock, and announces in the stripe's journal
// (jrec: the operation, bucket and entry in one word, and for an update of
// a value longer than a word a copy of the new value, jval) what it is
// about to change before it changes it; the allocator keeps a journal of
// its own (ajob: the entry it is marking used or free). The locks are
// robust: when a process dies holding one, the next process to lock it
// gets lock.ErrOwnerDead (within about 50 ms) and repairs from the journal
// before doing its own operation. Any process may be killed (SIGKILL) at
// any instruction; this is what each step leaves.
//
// Store of a new key (an insert):
//
//  1. Lock the allocator; pick a free entry e; write the stripe's journal
//     (insert, bucket, e) and the allocator's (e); set e's bitmap bit; mark
//     e as taken by the stripe; clear the allocator's journal; unlock.
//     Killed here: the key is absent. The allocator's repair makes the
//     entry its journal names agree with the bitmap (a bit set for an
//     entry still marked free is cleared); the stripe's repair gives back
//     an entry its journal names, marked taken, and not in the chain.
//  2. Write the key, the value and next into e, which no reader can reach
//     yet. Killed here: the same.
//  3. Publish: one atomic store that links e, the commit point. If e is in
//     the bucket's home block, or no entry of the chain is, the store is
//     the bucket word's, with e first and a new version; otherwise it is
//     the next of the chain's last home-block entry, and the bucket word
//     then gets a new version. Killed after it, the key is present with the
//     new value; the repair gives the bucket its new version if it lacks
//     it.
//  4. Add one to the stripe's count; clear the journal. The repair recounts
//     the stripe, so a count the dead process did not update is fixed.
//
// Store over an existing key (an update; also Swap, CompareAndSwap,
// Update) of a value of one word (8 bytes or less): one atomic store of the
// value, the commit point, then a new version of the bucket word. No value
// of one word can be torn, so it needs no journal; the version tells a
// Range that the bucket changed under it.
//
// Store over an existing key of a longer value:
//
//  1. Copy the new value into jval. Killed here: nothing changed.
//  2. Write the journal (update, bucket, entry): the commit point.
//  3. Make the bucket's version odd; write the value's words; make it even
//     (version + 2). Killed anywhere from 2 on: the repair makes the
//     version odd (if the writer had not), writes jval into the entry
//     again and makes the version even, so the key holds the new value,
//     whole. Readers that meanwhile found the version odd wait on the lock
//     and so on the repair.
//  4. Clear the journal.
//
// Delete (also LoadAndDelete, CompareAndDelete, Clear):
//
//  1. Write the journal (delete, bucket, entry e): the commit point.
//  2. Unlink e: one atomic store of the bucket word with a new version, or
//     of the predecessor's next and then the bucket word's version.
//  3. Free e: lock the allocator; write its journal (e); mark e free;
//     clear e's bitmap bit (and its word's summary bit first); clear the
//     allocator's journal; unlock.
//  4. Subtract one from the count; clear the journal.
//
// Killed anywhere from 1 on, the repair finishes the delete: it unlinks e
// if it is still linked, gives the bucket a new version in any case (a
// writer killed between the predecessor's store and the version's would
// otherwise leave a reader still walking the old chain to accept what a
// reuse of e writes), and frees e if it is still marked taken (an
// allocator left with e marked free and its bit set has the bit cleared).
//
// So an operation that returned is done, and one whose process was killed
// is either not done at all or done in full: not done if a Store of a new
// key died before its publishing store, done in full if any operation died
// after its commit point. No value is ever torn, no entry is lost or
// counted twice, and no key is ever in two places. Every repair step
// checks before it acts and the journal is cleared last, so a repairer
// that is killed too leaves the same work to the next one. A repair ends
// by checking the stripe's chains (bounded walks; every entry marked as the
// stripe's); if anything is impossible (a segment damaged by something
// else) it leaves the stripe's lock not recoverable, and every later
// operation on that stripe returns ErrCorrupt. Check verifies the whole map
// like fsck.
//
// What is not guaranteed: a process killed in an operation cannot know
// whether it happened (the map is consistent either way); a writer stopped
// by SIGSTOP holds its stripe until it continues, and readers of a bucket
// it was overwriting wait on it.
//
// # Concurrency
//
// All methods but Close may be called from any goroutine of any process
// that has the map open. Load is linearizable, and so are the writes (each
// holds its key's stripe lock); two writers of keys in different stripes
// never wait for each other, except on the allocator's lock when both
// insert or delete. A writer that finds no free entry returns ErrFull;
// no operation walks more than Cap entries. Close must not run while
// another goroutine uses the map.
//
// # Caveats
//
//   - The capacity is fixed: a map does not grow. Open addressing would
//     cost less memory but needs tombstones or moving entries on delete;
//     chains let every write change one word at its commit point.
//   - A map is fastest with room to spare: with every entry in use, a third
//     of the keys are outside their home block (an extra cache miss, most
//     of them in the same page); with half in use, one in twenty-five.
//   - Update runs its function holding the stripe's lock: it must be quick
//     and must not use the map.
//   - A bucket's version is 32 bits: a reader held up in the middle of one
//     Load while exactly 2^31 writes hit the same bucket could accept a
//     mixed value. (A version changes at most about 10^8 times a second.)
//   - All processes must run in the same pid namespace (the locks record
//     owners by pid) on the same (little-endian) architecture.
//   - As for any shm segment: a named map truncated by another process while
//     mapped makes the next access fault; keep files mode 0600. Open
//     refuses a map of another user, or one that group or others may write
//     (shm.ErrForeign), unless given AllowForeign; a map shared between
//     users on purpose is created with Mode(0o660) and opened with it.
//   - Open of a map whose creator is still writing its header (the file
//     appears a few microseconds before) waits for it while the creator
//     lives, up to 2 s. A file whose creator died before writing the header
//     is refused with ErrNotMap, saying so: remove it. A map segment with
//     no magic, all zeros and younger than 2 s is refused after the wait.
//     Maps made before maps had a segment kind of their own (raw segments)
//     are refused with ErrNotMap, saying so: create them again.
//   - Linux only, as package shm; elsewhere Create, CreateAnon and Open
//     return errors wrapping errors.ErrUnsupported.
//
// Package shmap imports shm, lock and internal/proc.
package shmap
