// Package queue provides a cross-process Queue and Pipe over shared-memory
// ring buffers, the counterparts of Python's multiprocessing.Queue and
// multiprocessing.Pipe.
//
// A Queue is a bounded multi-producer, multi-consumer queue of byte
// messages. Any number of processes open it by name (Open), inherit it as an
// anonymous memfd (CreateAnon), or receive it inside engine task arguments
// (it implements gob.GobEncoder and travels as a reference to its segment).
// Put and Get block while the ring is full or empty, under a
// context.Context for deadlines and cancellation; TryPut and TryGet never
// wait. Typed wraps a Queue in a Codec (encoding/gob by default) to carry Go
// values. A pipe (NewPipe) is a pair of Conns, one per end, each direction a
// ring of its own: Send on one end, Recv on the other; TypedConn carries Go
// values over one. Conns cross to other processes by gob too. A
// JoinableQueue (CreateJoinable) is a Queue whose consumers mark each
// message done (TaskDone) and whose Join waits until all are, as Python's
// multiprocessing.JoinableQueue.
//
// # Closing
//
// Two different things are closed, as with a network connection:
//
//   - CloseWrite closes the queue itself, for every process: later Puts fail
//     with ErrClosed, and Gets take what remains, then return ErrClosed, like
//     receives from a closed channel. On a Conn it closes that end's sending
//     direction (a half-close).
//   - Close lets go of this process's handle and mapping only; the queue and
//     its messages stay for the other processes. A parent that hands a Conn
//     to a child may Close its copy at once.
//
// # Layout
//
// A queue is an shm segment of kind KindQueue with uint8 elements: shape
// [capacity] for a Queue, [1, capacity] for a JoinableQueue, [2, capacity]
// for a Pipe (ring 0 carries end 0 to end 1). The ring's bytes are the segment's data; its control block lives in
// the segment's lock area, one 192-byte block per ring, three cache lines so
// that producers and consumers do not write the same line:
//
//	lock area +0    closed uint32 | neWord uint32 | nfWord uint32     read-mostly
//	          +64   putMu | tail | puts | pendTail | pendPuts |
//	                putCS | putStreak | putAck                  producers
//	          +128  getMu | head | gets | pendHead | pendGets |
//	                getCS | getStreak | getAck                  consumers
//	          +192  second ring's block (pipes)
//	+192 (queue), +384 (pipe)
//	                peer table header, 64 bytes: pin [2]uint64 |
//	                deadWriters [2]uint32 | untracked [2]uint32 |
//	                done uint64 | attributed uint64 | joinWord uint32
//	          +64   slots, 16 bytes each (16 for a queue, 4 for a pipe):
//	                owner uint64 (pid | start time<<32) | n [2]uint32
//
//	data      +0    ... | header uint64 | payload, padded to 8 | ... | 0 | ...
//	                      ^ head % capacity                tail % capacity ^
//
// head and tail are 64-bit byte counts that only grow (a ring position is the
// count modulo the capacity); head <= tail <= head+capacity, except that head
// may pass tail by the one record a producer has committed and not yet
// published. A record is an 8-byte header and the payload padded to 8 bytes;
// it may wrap around the end of the ring. The header's low 32 bits are the
// length with bit 31 set, its high 32 bits the complement of the low ones
// exclusive-or the record's position (its byte count) divided by 8: a header
// is valid only at the position it was written for, so one left a lap
// earlier, or a zeroed word, is never taken for a record. The word after the
// newest record is kept zero (unless the ring is full, when it holds the
// oldest record's header, a lap old). A zeroed block and ring are an empty
// open queue, so a new segment needs no set-up.
//
// # Algorithm
//
// Producers run their critical sections one at a time, and so do consumers,
// each side under its own lock (putMu, getMu; see Sides), so a producer and
// a consumer never wait for each other. Put checks for room against head,
// zeroes the word after its record, copies the payload past tail, and only
// then commits the record with one store of its header, and publishes it
// with one store of the new tail. Get finds a record at head by its header
// (it reads tail only when there is none, to tell an empty ring from a
// damaged one), copies it into the caller's memory, and only then commits
// with one store of the new head. A producer keeps a private copy of head
// and re-reads the shared one only when the copy says full, so a busy queue
// moves no index cache line between producer and consumer, only the
// records. The stores inside the critical sections are plain stores on
// amd64 (which orders stores: no locked instruction), atomic ones elsewhere.
//
// # Sides
//
// A side's lock is a robust lock like lock.Mutex: one 64-bit word naming its
// holder by pid and start time, taken over (and the ring repaired) when the
// holder is found dead, with spinning, then futex sleeps, for waiters. The
// holder is a mapping: a process's view of the segment (each Create, Open
// or OpenPipe makes one; handles decoded from gob share the process's
// mapping of the segment), with a token in the word that tells the mappings
// of one process apart. Within a process, the goroutines of a mapping enter
// a side one at a time through a sync.Mutex, which also lets Close wait for
// calls in flight.
//
// A mapping that takes a side's lock 64 times in a row without anybody
// waiting keeps it when it unlocks: the lock is biased to it. Its next
// calls enter the side with no locked instruction: they read the lock word
// (still biased to us?), store the mapping's name in the cs word ("inside"),
// read the lock word again, and at the end store 0 in cs. Any other mapping,
// of this process or another, that wants the lock revokes the bias: it
// replaces the word with its own by compare-and-swap, then issues an
// asymmetric fence (membarrier(2), MEMBARRIER_CMD_GLOBAL_EXPEDITED: every
// processor running a process of this package executes a full barrier),
// then reads cs and, while it names a holder, waits for it to go to 0 or
// for that holder to be found dead (then it repairs the ring). The fence is
// what lets the holder skip its own: either the holder's cs store is visible
// to the revoker's read after the fence, or the holder's second read of the
// lock word comes after the revoker's swap and sees it, and the holder
// stores 0 in cs and takes the lock the slow way. A process that cannot
// register for these fences makes its holders' cs store a full barrier
// instead. A revocation costs a system call that interrupts the other
// processors, which is why a lock is biased only to a mapping that has it
// to itself.
//
// A holder that read the word (biased to it) just before a revocation may
// store cs late, long after, and then store 0 when it sees the revocation.
// Were the lock biased to another mapping meanwhile, those stores could
// erase that mapping's "inside" and let a revoker in beside it. So the
// revoker also names the revoked holder in the ack word, and no bias is
// granted while it is set; the revoked holder clears it the next time it
// finds the word not biased to it (then it is not between its two reads),
// and a dead one is cleared by liveness check. Whoever takes the lock by
// any way checks cs before entering, so a revoker that died while waiting
// leaves the next holder waiting in its place. With no locked instruction
// in the section itself, the wake-up check after a Put or Get (see below)
// relies on the sync.Mutex unlock that ends the call, a locked instruction,
// as its barrier.
//
// A blocked Put or Get spins for up to 50 µs (a peer that answers within
// that time costs no system call), then sleeps on a futex word: neWord for
// "not empty", nfWord for "not full". A sleeper sets the word's low bit before
// its last check; whoever changes the state looks at the bit afterwards and,
// only if it is set, bumps the word, clears the bit and wakes the sleepers.
// A Put or Get with nobody asleep makes no system call. Every sleep lasts at
// most 100 ms, after which the sleeper checks again, so no mistake or crash
// can leave a waiter asleep for good.
//
// # Crash guarantees
//
// Any process may be killed (SIGKILL) at any instruction:
//
//   - The queue is never corrupted. The only shared state a process changes
//     outside its critical section is the futex words, the lock words, its
//     cs word and the peer table; inside it, the indices change by single
//     aligned 64-bit stores, so they are always either the old or the new
//     value, never torn.
//   - A producer killed during Put leaves either nothing (it died before
//     the header store: consumers find no header, and the next Put
//     overwrites the partial bytes) or the whole message (after it:
//     consumers take it at once, and the next producer publishes it). No
//     consumer ever sees a partial message. A message whose Put returned
//     nil is stored.
//   - A consumer killed during Get before its head store leaves the message
//     where it was, and the next Get takes it. Killed after the head store,
//     the message is gone with it: that one message was delivered to the
//     process that died. So each message is delivered at most once, and a
//     killed consumer can lose at most the one message its Get had committed
//     but not returned (and, of course, any it had returned and not yet
//     handled). No message is ever delivered twice.
//   - A process that dies holding a side's lock, or inside a critical
//     section entered on a bias, leaves the side to the next process that
//     wants it: at once for a bias (it is revoked; the dead holder's cs is
//     found dead on the first check), within about 50 ms for a lock held
//     the slow way (the waiter's first liveness check comes after its
//     spin, then every 50 ms). A process that dies while revoking leaves
//     its successor to wait for the biased holder as it would have. The
//     process that takes over finishes the dead process's bookkeeping: the
//     message counts that Len reports are written after the index, and the
//     index a Put or Get was about to publish is recorded first (pendTail,
//     pendHead), so the repair can tell whether the dead process committed
//     (a header at tail: it moves tail past the record) and published. It
//     then checks the indices. If they are impossible (a segment damaged by
//     something else) it marks the side broken, and every later operation
//     on it returns ErrCorrupt.
//   - A process killed between its two reads of a biased lock word, with cs
//     set, is found dead by the revoker; killed after the revocation and
//     before it acknowledged it, it stops further biasing only until a
//     liveness check finds it dead.
//   - A process killed while asleep leaves at most a set "sleepers" bit, which
//     the next wake-up clears; killed during CloseWrite, the queue is either
//     closed or not.
//   - A process killed while it registers in the peer table, or while it
//     unregisters, leaves its slot either counting one handle more or one
//     fewer; a dead process's counts are ignored (its slot is reused), so
//     this changes nothing once it is dead.
//
// What cannot be guaranteed: a message a consumer took (Get returned it) is
// the consumer's; if it then dies the message is lost, as with any queue.
// A consumer whose producers all died learns of it (see Dead peers), but not
// what they meant to send next.
//
// # Dead peers
//
// Python's Connection.recv raises EOFError when no process holds the other
// end any more. Here Get and Recv (and GetAppend, RecvAppend) return an
// error wrapping ErrPeerGone when the queue or the pipe direction is empty
// and every process that could put into it is gone: exited, killed, or
// closed its handle, without CloseWrite. Every message those processes
// published is received first, in order; ErrPeerGone comes only at the
// empty end. It is not ErrClosed and does not wrap io.EOF: CloseWrite is how
// a writer says the stream is complete, and ErrPeerGone says it ended
// without that, so messages the writer meant to send may be missing.
//
// Who is a writer. A process is a writer while it holds a handle that counts
// as one:
//
//   - A pipe end (Conn) counts as a writer of its sending direction from the
//     moment it is made (NewPipe, OpenPipe, gob decoding) until its Close,
//     as a process holding a pipe's write descriptor does. A process that
//     hands an end to another by gob (GobEncode) keeps counting as a holder
//     of that end, while it lives, until another process attaches it, so it
//     may Close its own copy at once without ending the stream early.
//   - A Queue handle counts as a writer from the moment it is made (Create,
//     CreateAnon, Open, gob decoding) until its Close, except that a handle
//     whose first use is a Get (any form, TryGet included) is a consumer
//     and stops counting, until it puts (Put or TryPut) and counts again.
//     So consumers do not keep each other waiting, a process that creates
//     a queue and reads from it does not count as a writer of its own
//     queue, and a producer that dies before its first Put still counts.
//     A process that holds a handle it never uses (a coordinator that
//     starts producers and consumers) counts as a writer until it closes
//     the handle or calls CloseWrite, which it should do once the producers
//     are done.
//
// A Get reports ErrPeerGone only when some process other than its own is or
// was a writer (so a consumer that starts before its producers waits for
// them), when no writer handle is held by its own process, and when every
// other process holding one is dead (its pid is gone, a zombie, or reused:
// the start time in /proc/PID/stat tells, as for the robust lock). Closing a
// writer handle wakes waiting Gets at once; a death is noticed by a waiting
// Get within one sleep slice (100 ms) plus a read of /proc/PID/stat per
// writer process. TryGet does not look (it returns ErrEmpty without reading
// /proc), nor does a Get whose context is already done.
//
// ErrPeerGone is a state, not an end: if a new writer attaches later, the
// next Get takes its messages. If writers come and go one after another
// (each exits before the next attaches), a consumer may see ErrPeerGone in
// between; keep a handle open in a process that outlives them, or end the
// stream with CloseWrite. A process stopped (SIGSTOP) is alive. A pipe's
// Send waiting for room on a full direction returns ErrPeerGone in the same
// way when every holder of the other end is gone; a Send that finds room
// stores its message whether or not anyone is left to read it.
//
// The peer table has 16 slots for a queue and 4 for a pipe, one per process
// (the slot of a dead process is reused). A writer that finds the table
// full counts as untracked, and while any untracked writer is open no Get
// of that queue reports ErrPeerGone: with more writer processes than slots
// the queue behaves as before, waiting until its context ends. The same
// holds where liveness cannot be read (no /proc): a writer is never
// declared gone on a guess.
//
// # JoinableQueue
//
// Join waits until the count of TaskDone calls (done) reaches the queue's
// count of messages put (puts), which the crash repairs keep exact; a Put
// costs nothing more than on a Queue. A Get on a joinable queue, inside
// its critical section, adds one to its process's peer slot (n[1]: tasks
// the process holds), then stores the count of gets so counted
// (attributed); TaskDone adds one to done, then takes one from its slot,
// then wakes Join if done reached puts. Join sleeps on joinWord like a
// Get, and after each 100 ms slice it finishes the counts of a process
// that died inside Put or Get (as Len does; a consumer that died after
// committing its Get and before storing attributed has its Get counted as
// held by nobody) and counts the lost tasks: attributed minus done minus
// the tasks live processes hold. More than zero means some process died
// holding tasks it never marked done, and Join returns ErrPeerGone instead
// of waiting for ever. Read in that order (attributed, slots, done), a
// concurrent Get or TaskDone can only make the count smaller, never report
// a loss that is not there. TaskDone from another process than the one
// that took the task is allowed (the counts stay right in total), but the
// taking process's death then looks like a loss while tasks remain
// unfinished.
//
// # Performance
//
// Messages are copied in and out (a Get copies the message into the caller's
// memory before committing, so a slow consumer never holds ring space).
// GetAppend and RecvAppend reuse the caller's buffer; Get allocates. With
// one producer and one consumer each side is biased to its only user, and a
// call costs two locked instructions (the mapping's sync.Mutex), a copy and
// a few plain stores; no index cache line moves between the two processes.
// With several processes on a side the lock moves between them as a robust
// lock does. bench_test.go measures messages per second between processes
// (BenchmarkQueue), the Pipe round trip, and one goroutine's Put and Get
// (BenchmarkPutGet, the serial cost).
//
// # Caveats
//
//   - The ring's capacity is fixed at creation, between MinCapacity and
//     MaxCapacity (16 GiB); a message takes 8 bytes plus its length rounded
//     up to 8, and one longer than the capacity minus 8 (or than 2^31-1
//     bytes) is refused with ErrTooLarge.
//   - Damage is found where it shows: an index out of range, a record where
//     tail says one must be and none is, a length longer than the ring.
//     A forged header (one that passes the check, which only something
//     writing the segment behind the queue's back can make) is delivered as
//     a message, and what it covers is lost.
//   - Order is FIFO over the whole queue. Two producers' messages interleave
//     in the order their Puts published; one producer's come out in order.
//   - All processes sharing a queue must run in the same pid namespace (the
//     side locks and the peer table name processes by pid) and, for Typed,
//     use the same type and codec.
//   - A process with more than 63 mappings of queues at once gives the
//     ones beyond no token: they work, always taking the lock the slow way.
//   - Linux only. Elsewhere the package compiles, but creating or opening a
//     queue returns errors.ErrUnsupported.
//
// # Errors
//
// Every error wraps one of the sentinels (ErrClosed, ErrFull, ErrEmpty, ...;
// test with errors.Is) and says the operation and the queue or pipe end:
// "put to queue jobs: queue full: context deadline exceeded", "receive on
// anonymous pipe end 1: queue closed". Errors of shm (a missing or foreign
// file) come as shm words them, naming the file.
//
// # Imports
//
// queue imports shm (its rings live in segments), internal/futex,
// internal/proc (a holder's or a peer's liveness) and golang.org/x/sys/unix
// (membarrier), besides the standard library; it must not import array,
// value or engine. It no longer uses package lock: its side locks are
// lock.Mutex's robust protocol with a bias added (see Sides). engine/pool builds its task and
// result queues on it.
package queue
