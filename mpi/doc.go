// Package mpi runs shmpar beyond one machine: one engine team per node, MPI
// between the nodes, the hybrid model of HPC codes. It is a small binding of
// the MPI calls such a program needs (Init, Rank, Size, Barrier, Abort,
// Bcast, Allreduce, Allgather, Allgatherv, Sendrecv, Finalize), typed over
// the numeric element types, plus what makes a distributed reduction
// reproducible: Share, which cuts a global index range at the deterministic
// grain, and AllreduceExact, which sums floats exactly across ranks (see
// package exact).
//
// # Builds
//
// Built with the mpi build tag (go build -tags mpi), the package calls the
// MPI library through cgo (pkg-config ompi-c: Debian's libopenmpi-dev) and
// the program is started by mpirun or srun. Without the tag it is a
// single-rank implementation of the same API with no cgo, so programs
// build, test and run anywhere as a world of one; Init then refuses to run
// under a launcher that started several ranks (ErrSingleRank), instead of
// letting each rank compute the whole problem alone. Built reports which
// build this is.
//
// # Model
//
//	func main() {
//		engine.Main() // first: a worker process never returns from it
//		world, err := mpi.Init()
//		...
//		defer mpi.Finalize()
//		lo, hi := world.Share(n) // this rank's part of [0, n)
//		// run [lo, hi) on this node's team, engine.Range(lo, hi)
//		var acc exact.Acc
//		acc.AddSlice(partials) // the per-chunk partials of the part
//		err = world.AllreduceExact(&acc)
//		sum := acc.Float64() // the same bits on every rank, for any rank count
//	}
//
// Each rank is one process per node (or per socket) that coordinates its own
// engine team of worker processes. Workers are the same binary, re-executed
// by the engine; engine.Main, the first line of main, runs a worker's loop
// and never returns in one, so workers branch off before Init and never call
// MPI. Only the coordinator of each node is an MPI rank.
//
// # Threads
//
// Init asks for MPI_THREAD_FUNNELED: the process may have many threads, but
// only the one that called MPI_Init_thread calls MPI. Go moves goroutines
// between threads, so Init locks the goroutine that calls it to its thread
// for the life of MPI (runtime.LockOSThread), and every call checks, in C at
// no measurable cost, that it comes from that thread; a call from another
// goroutine returns ErrThread, never undefined behaviour. Make MPI calls from
// the goroutine that called Init, normally main's. Abort is the exception:
// it may be called from any goroutine. (The alternative, a goroutine that
// owns the thread and serves calls sent to it over a channel, lets any
// goroutine call, but each call then waits for a sleeping thread to wake up:
// a round trip measured 10–22 µs on the 2-core development VM
// (BenchmarkLockedThreadServer), some 30 times an 8-byte Allreduce between
// two ranks there.) The single-rank build has no thread to protect and
// accepts calls from any goroutine.
//
// # Errors
//
// Init sets MPI_ERRORS_RETURN on the world communicator, so a failing call
// returns an *Error with the library's code, class and text
// (MPI_Error_string) instead of aborting the job. Arguments the package can
// check before calling MPI (ranks, lengths, tags, operations) are refused
// with a sentinel error (ErrRank, ErrCount, ErrTag, ErrOp). Collectives must
// be called by every rank with matching lengths, as in MPI; lengths that
// differ between ranks are not detectable locally and are the library's to
// report (or not). A failure inside MPI_Init_thread itself aborts the job,
// as MPI specifies.
//
// # Signals and failures
//
// Go's runtime turns SIGSEGV, SIGBUS and SIGFPE into panics with a message
// and a stack. Open MPI installs its own handlers for SIGSEGV, SIGBUS, SIGFPE
// and SIGABRT (MCA parameter opal_signal) unless a handler is already
// there, and UCX has a list of its own (UCX_ERROR_SIGNALS). Init sets both
// variables empty unless the user has set them, and puts back any handler of
// the fault signals that MPI_Init_thread replaced. So a nil dereference or a
// panic in a rank after Init prints Go's panic message and stack; the rank
// exits with status 2 and mpirun (or srun) ends the job's other ranks, as
// it does when a rank is killed outright or calls Abort. A rank's engine
// workers die with their coordinator, by the engine's supervision.
//
// # Launchers
//
// Launched reads the rank and size a launcher gave the process (Open MPI,
// MPICH's Hydra, Slurm, PMIx) from its environment without initialising
// MPI, for placement decisions such as the size of a rank's team.
// docs/CLUSTER.md shows mpirun on one machine and on a host list, sbatch and
// srun scripts, binding flags, and running as root in containers.
package mpi
