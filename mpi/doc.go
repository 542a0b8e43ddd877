// Package mpi runs shmpar beyond one machine: one engine team per node, MPI
// between the nodes, the hybrid model of HPC codes. It is a small binding of
// the MPI calls such a program needs (Init, Rank, Size, Barrier, Abort,
// Bcast, Allreduce, Allgather, Allgatherv, Sendrecv, Finalize), typed over
// the numeric element types, and the glue that runs a global loop on every
// node's team with results that do not depend on how it was spread: Share,
// For, Reduce, Agree and ShareNode.
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
// Each rank is one process per node (or per socket) that coordinates its own
// engine team of worker processes on the node's cores. Workers are the same
// binary, re-executed by the engine; engine.Main, the first line of main,
// runs a worker's loop and never returns in one, so workers branch off
// before Init and never call MPI. Only the coordinator of each node is an
// MPI rank.
//
//	var sum = engine.RegisterReduce("sum", func(c *engine.Ctx, a Args, lo, hi int) (float64, error) {
//		s := 0.0
//		for i := lo; i < hi; i++ {
//			s += a.X(i) // global index i
//		}
//		return s, nil
//	})
//
//	func main() {
//		engine.Main() // first: a worker process never returns from it
//		world, err := mpi.Init()
//		...
//		team, err := engine.Start(world.ShareNode())
//		...
//		s, err := mpi.Reduce(ctx, world, team, sum, n, args, mpi.Sum)
//		// s has the same bits on every rank, for any ranks × workers
//		team.Close()
//		mpi.Finalize()
//	}
//
// A global loop [0, n) is cut into chunks of Grain(n) elements, a number
// that depends on n alone. Share deals the chunks out to the ranks in
// contiguous parts, and a rank runs its part on its team with engine.Range,
// which keeps the kernel's indices global. For does that for a kernel that
// writes its results (each rank then holds its part of the output, in its
// own arrays). Reduce does it for a reduction kernel and combines the
// per-chunk partial results across ranks without shipping them: a
// floating-point Sum adds them exactly (package exact) and sends one
// accumulator per rank, 592 bytes, in one Allreduce; Min, Max and integer
// sums send two words. So the result is bitwise identical for 1×1, 1×2,
// 2×1, 3×2, … ranks × workers, and equal to a serial reference: for a
// float Sum, exact.Sum of the partials of the chunks [i·g, min((i+1)·g, n)),
// g = Grain(n), each one call of the kernel; for the others, engine's fold
// of those partials in chunk order. Why an exact accumulator rather than a
// fixed pairwise tree of the partials or binned summation: see package
// exact. Programs that need another combination compose the same pieces:
// Share, the kernel's Partials with engine.Range(lo, hi) and
// engine.Deterministic(Grain(n)), and a collective of their own.
//
// # Teams and placement
//
// A rank's team has one worker per CPU the rank may use (its affinity mask
// and cgroup quota, engine.UsableCPUs) unless engine.Workers says
// otherwise: mpirun --map-by ppr:1:node:PE=C and srun --cpus-per-task=C
// give a team of C. Start it with the option ShareNode returns: when the
// ranks on a node (Node) have more workers between them than the node has
// CPUs — ranks oversubscribed with mpirun --oversubscribe, or all bound to
// every core with --bind-to none — the team does not spin (Team.Spin < 0),
// so that idle workers sleep instead of taking the CPU another rank's
// workers need; an engine.Spin option that is set is kept.
// docs/CLUSTER.md shows the launch commands.
//
// # Failures across ranks
//
// For does not communicate: a rank whose part fails returns its error and
// the other ranks do not know. A program then ends the job — it exits with
// a non-zero status without calling Finalize (or calls Abort), and mpirun or
// srun ends the other ranks — or calls Agree, one Allreduce of one word, so
// that every rank learns that some rank failed (ErrOtherRank) before its
// next collective call. Reduce agrees by itself, in a word of its own
// Allreduce: the rank that failed returns its error (a *engine.WorkerError
// with a worker's panic value and stack, ctx's error, ...), every other rank
// an error wrapping ErrOtherRank. A rank that dies (killed, out of memory)
// ends the job: mpirun ends the other ranks, and each rank's workers die
// with their coordinator.
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
// The goroutine that calls MPI never blocks in Go, so the runtime never
// reschedules it, and after 10 ms its sysmon thread starts taking its P
// away during the cgo calls and polls every 20 µs: on a node whose cores
// are all busy, those wake-ups cost the MPI calls time slices. So every
// 2 ms of calls the package lets the scheduler run (runtime.Gosched, a few
// microseconds), which keeps sysmon asleep; docs/CLUSTER.md has the
// measurement.
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
// workers die with their coordinator, by the engine's supervision; a panic
// in a worker is an error returned to the coordinator, which prints it as
// it likes (see Failures across ranks).
//
// # Launchers
//
// Launched reads the rank and size a launcher gave the process (Open MPI,
// MPICH's Hydra, Slurm, PMIx) from its environment without initialising
// MPI, for placement decisions such as the size of a rank's team.
// docs/CLUSTER.md shows mpirun on one machine and on a host list, sbatch and
// srun scripts, binding flags, and running as root in containers.
package mpi
