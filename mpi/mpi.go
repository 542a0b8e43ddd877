package mpi

import (
	"fmt"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/shmpar/shmpar/mpi/exact"
)

// Number is the constraint on element types of the collectives: the
// pointer-free numeric types, which map to MPI's predefined datatypes
// (int to MPI_INT64_T on 64-bit targets, float64 to MPI_DOUBLE, ...).
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// Op is a reduction operation of Allreduce.
type Op uint8

// The reduction operations: MPI_SUM, MPI_MIN and MPI_MAX.
const (
	Sum Op = iota + 1
	Min
	Max
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "Sum"
	case Min:
		return "Min"
	case Max:
		return "Max"
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ProcNull stands for no rank in Sendrecv, as MPI_PROC_NULL: sending to it
// does nothing and receiving from it receives nothing. A halo exchange at
// the edge of the domain uses it for the missing neighbour.
const ProcNull = -1

// MaxCount is the largest number of elements one call moves (MPI counts are
// C ints).
const MaxCount = math.MaxInt32

// dtype names an MPI datatype; the values are shared with the C side.
type dtype int

const (
	dtInt8 dtype = iota + 1
	dtInt16
	dtInt32
	dtInt64
	dtUint8
	dtUint16
	dtUint32
	dtUint64
	dtFloat32
	dtFloat64
)

// dtypeOf returns the MPI datatype of T.
func dtypeOf[T Number]() dtype {
	var zero T
	switch any(zero).(type) { // the common types without reflection
	case float64:
		return dtFloat64
	case int64:
		return dtInt64
	case int:
		return dtInt64
	case float32:
		return dtFloat32
	}
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.Float32:
		return dtFloat32
	case reflect.Float64:
		return dtFloat64
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return [...]dtype{1: dtInt8, 2: dtInt16, 4: dtInt32, 8: dtInt64}[t.Size()]
	default:
		return [...]dtype{1: dtUint8, 2: dtUint16, 4: dtUint32, 8: dtUint64}[t.Size()]
	}
}

// state is the process's MPI state: one world, set by Init.
var state struct {
	mu        sync.Mutex
	world     *Comm
	finalized atomic.Bool // read by every call without the lock
}

// Comm is a communicator: the ranks of a job that take part in its
// collectives. Init returns the world communicator (MPI_COMM_WORLD); a Comm
// made otherwise (nil, or the zero Comm) is refused with ErrNotInit. A Comm
// is used from the goroutine that called Init (see the package
// documentation).
type Comm struct {
	rank, size         int
	nodeRank, nodeSize int // among the ranks on this rank's node
}

// Init initialises MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) and
// returns the world communicator. It locks the calling goroutine to its OS
// thread for good: every later MPI call must come from this goroutine
// (usually main's). Call it after engine.Main, which in a worker process
// never returns, so workers never initialise MPI. Init sets MPI errors to
// return (MPI_ERRORS_RETURN) rather than abort, and keeps the MPI library's
// signal handlers off the signals Go's runtime uses for panics.
//
// In a program built without the mpi build tag, Init returns a world of one
// rank, or ErrSingleRank if a launcher started the program as one of
// several ranks.
func Init() (*Comm, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	switch {
	case state.finalized.Load():
		return nil, fmt.Errorf("mpi: Init: %w", ErrFinalized)
	case state.world != nil:
		return nil, fmt.Errorf("mpi: Init: %w", ErrInitialized)
	}
	rank, size, nodeRank, nodeSize, err := initialize()
	if err != nil {
		return nil, err
	}
	state.world = &Comm{rank: rank, size: size, nodeRank: nodeRank, nodeSize: nodeSize}
	return state.world, nil
}

// Finalize ends MPI (MPI_Finalize) after a barrier-like wait for the other
// ranks to finalise too; it must be called by every rank, from the goroutine
// that called Init, before the program exits normally. Calls after it
// return ErrFinalized.
func Finalize() error {
	state.mu.Lock()
	defer state.mu.Unlock()
	switch {
	case state.finalized.Load():
		return fmt.Errorf("mpi: Finalize: %w", ErrFinalized)
	case state.world == nil:
		return fmt.Errorf("mpi: Finalize: %w", ErrNotInit)
	}
	if err := finalize(); err != nil {
		return err
	}
	state.finalized.Store(true)
	return nil
}

// live reports whether c may be used now.
func (c *Comm) live(call string) error {
	if c == nil || c.size == 0 { // nil, or a Comm{} that Init did not make
		return fmt.Errorf("mpi: %s: %w", call, ErrNotInit)
	}
	if state.finalized.Load() {
		return fmt.Errorf("mpi: %s: %w", call, ErrFinalized)
	}
	return nil
}

// Rank returns this process's rank in c, in [0, Size()).
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks in c.
func (c *Comm) Size() int { return c.size }

// Barrier returns when every rank of c has called it (MPI_Barrier).
func (c *Comm) Barrier() error {
	if err := c.live("Barrier"); err != nil {
		return err
	}
	return barrier()
}

// Abort ends every process of the job with the exit code (MPI_Abort). It
// may be called from any goroutine, and returns only if the MPI library
// fails to abort. In the single-rank build it exits the process.
func (c *Comm) Abort(code int) error {
	if c == nil || c.size == 0 {
		return fmt.Errorf("mpi: Abort: %w", ErrNotInit)
	}
	return abort(code)
}

// Node returns this rank's index among the ranks that share its node, and
// their number (the ranks of MPI_COMM_TYPE_SHARED, whatever launched them);
// 0 and 1 in the single-rank build.
func (c *Comm) Node() (rank, size int) { return c.nodeRank, c.nodeSize }

// Share returns this rank's part [lo, hi) of a global index range [0, n):
// the chunks of the distributed grain Grain(n) dealt out in contiguous runs
// whose lengths differ by at most one chunk, rank 0 first. The parts are
// disjoint, cover [0, n) in rank order, and start and end at multiples of
// the grain (or at n), so a team that runs its part with engine.Range and
// engine.Deterministic(Grain(n)) cuts exactly the chunks a single team
// would. An n of 0 or less gives every rank the empty part [0, 0).
func (c *Comm) Share(n int) (lo, hi int) {
	return share(n, Grain(n), c.rank, c.size)
}

// ShareOf returns what Share returns on rank rank of size ranks: for a
// program that spreads a loop over some of its ranks (the first size),
// such as a benchmark that measures 1, 2, 4, … ranks within one job. It
// returns the empty part [0, 0) for a rank outside [0, size) and for a
// size below 1.
func ShareOf(n, rank, size int) (lo, hi int) {
	if size < 1 || rank < 0 || rank >= size {
		return 0, 0
	}
	return share(n, Grain(n), rank, size)
}

// share returns part rank of size of [0, n) in whole chunks of grain.
func share(n, grain, rank, size int) (lo, hi int) {
	if n <= 0 {
		return 0, 0
	}
	k := n / grain
	if n%grain != 0 {
		k++
	}
	first := func(r int) int { // first chunk of rank r, ⌊r·k/size⌋ without overflow
		q, rem := k/size, k%size
		return r*q + r*rem/size
	}
	return min(n, first(rank)*grain), min(n, first(rank+1)*grain)
}

// AllreduceExact makes a, on every rank, the exact sum of the values all
// ranks added to their a (see package exact): one Allreduce with Sum of
// exact.NumWords int64 words. Rounded with a.Float64, the result has the
// same bits on every rank and for any number of ranks and any split of the
// values among them.
func (c *Comm) AllreduceExact(a *exact.Acc) error {
	words := a.AppendWords(make([]int64, 0, exact.NumWords))
	if err := Allreduce(c, words, Sum); err != nil {
		return err
	}
	var total exact.Acc
	if err := total.AddWords(words); err != nil {
		return fmt.Errorf("mpi: AllreduceExact: %w", err)
	}
	*a = total
	return nil
}

// ptr returns the address of s's first element, or nil for an empty slice.
func ptr[T Number](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(s))
}

// checkCount refuses a length MPI cannot express.
func checkCount(call string, n int) error {
	if n > MaxCount {
		return fmt.Errorf("mpi: %s: %w: %d elements, more than MaxCount", call, ErrCount, n)
	}
	return nil
}

// checkRank refuses a rank outside c (ProcNull allowed if nullOK).
func (c *Comm) checkRank(call, what string, r int, nullOK bool) error {
	if r >= 0 && r < c.size || nullOK && r == ProcNull {
		return nil
	}
	return fmt.Errorf("mpi: %s: %w: %s %d, size %d", call, ErrRank, what, r, c.size)
}

// Bcast copies root's buf into buf on every other rank of c (MPI_Bcast).
// Every rank passes a buffer of the same length.
func Bcast[T Number](c *Comm, buf []T, root int) error {
	if err := c.live("Bcast"); err != nil {
		return err
	}
	if err := c.checkRank("Bcast", "root", root, false); err != nil {
		return err
	}
	if err := checkCount("Bcast", len(buf)); err != nil {
		return err
	}
	return bcast(ptr(buf), len(buf), dtypeOf[T](), root)
}

// Allreduce replaces buf, on every rank of c, with the element-wise
// reduction by op of every rank's buf (MPI_Allreduce in place). Every rank
// passes a buffer of the same length. Integer sums must not overflow. A
// float Sum is rounded in an order the MPI library chooses, which may
// depend on the number of ranks: for a reproducible float sum use
// AllreduceExact.
func Allreduce[T Number](c *Comm, buf []T, op Op) error {
	if err := c.live("Allreduce"); err != nil {
		return err
	}
	if op < Sum || op > Max {
		return fmt.Errorf("mpi: Allreduce: %w: %v", ErrOp, op)
	}
	if err := checkCount("Allreduce", len(buf)); err != nil {
		return err
	}
	return allreduce(ptr(buf), len(buf), dtypeOf[T](), op)
}

// Allgather gathers every rank's send, in rank order, into recv on every
// rank (MPI_Allgather): recv[r·len(send) : (r+1)·len(send)] is rank r's
// send. Every rank passes a send of the same length and a recv of Size()
// times that.
func Allgather[T Number](c *Comm, send, recv []T) error {
	if err := c.live("Allgather"); err != nil {
		return err
	}
	if err := checkCount("Allgather", len(send)); err != nil {
		return err
	}
	if len(recv) != len(send)*c.size {
		return fmt.Errorf("mpi: Allgather: %w: recv has %d elements, want %d·%d", ErrCount, len(recv), len(send), c.size)
	}
	return allgather(ptr(send), len(send), ptr(recv), dtypeOf[T]())
}

// Allgatherv gathers every rank's send, of a length that may differ per
// rank, in rank order, into recv on every rank (MPI_Allgatherv). counts[r]
// is rank r's send length, the same slice on every rank; recv holds their
// sum, rank r's elements starting at counts[0]+…+counts[r-1]. Lengths that
// do not add up are refused before any communication (ErrCount).
func Allgatherv[T Number](c *Comm, send, recv []T, counts []int) error {
	if err := c.live("Allgatherv"); err != nil {
		return err
	}
	if len(counts) != c.size {
		return fmt.Errorf("mpi: Allgatherv: %w: %d counts for %d ranks", ErrCount, len(counts), c.size)
	}
	if counts[c.rank] != len(send) {
		return fmt.Errorf("mpi: Allgatherv: %w: counts[%d] = %d, but send has %d elements", ErrCount, c.rank, counts[c.rank], len(send))
	}
	cs := make([]int32, c.size)
	ds := make([]int32, c.size)
	total := 0
	for r, n := range counts {
		if n < 0 || n > MaxCount || total > MaxCount {
			return fmt.Errorf("mpi: Allgatherv: %w: counts[%d] = %d at offset %d", ErrCount, r, n, total)
		}
		cs[r], ds[r] = int32(n), int32(total)
		total += n
	}
	if total != len(recv) {
		return fmt.Errorf("mpi: Allgatherv: %w: counts add up to %d, recv has %d elements", ErrCount, total, len(recv))
	}
	return allgatherv(ptr(send), len(send), ptr(recv), cs, ds, dtypeOf[T]())
}

// Sendrecv sends send to rank dest and receives into recv from rank source,
// both with message tag tag, in one call that cannot deadlock against the
// matching Sendrecv of the other ranks (MPI_Sendrecv): the halo exchange of
// a domain decomposition. dest or source may be ProcNull. It returns the
// number of elements received, at most len(recv); a longer message is an
// error wrapping ErrTruncate.
func Sendrecv[T Number](c *Comm, send []T, dest int, recv []T, source int, tag int) (int, error) {
	if err := c.live("Sendrecv"); err != nil {
		return 0, err
	}
	if err := c.checkRank("Sendrecv", "dest", dest, true); err != nil {
		return 0, err
	}
	if err := c.checkRank("Sendrecv", "source", source, true); err != nil {
		return 0, err
	}
	if tag < 0 {
		return 0, fmt.Errorf("mpi: Sendrecv: %w: %d", ErrTag, tag)
	}
	if err := checkCount("Sendrecv", max(len(send), len(recv))); err != nil {
		return 0, err
	}
	if dest == c.rank && source == c.rank && len(send) > len(recv) {
		// Open MPI's path to self truncates without an error: check here.
		return 0, fmt.Errorf("mpi: Sendrecv: %w: %d elements sent to self, room for %d", ErrTruncate, len(send), len(recv))
	}
	return sendrecv(ptr(send), len(send), dest, ptr(recv), len(recv), source, tag, dtypeOf[T]())
}
