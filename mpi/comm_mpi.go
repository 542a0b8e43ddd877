//go:build mpi

package mpi

/*
#cgo pkg-config: ompi-c
// None of these calls Go back, and none keeps a pointer it was given after
// it returns (the MPI calls are blocking): saying so makes a call cheaper.
#cgo nocallback shmpar_init
#cgo nocallback shmpar_finalize
#cgo nocallback shmpar_error_string
#cgo nocallback shmpar_barrier
#cgo nocallback shmpar_bcast
#cgo nocallback shmpar_allreduce
#cgo nocallback shmpar_allgather
#cgo nocallback shmpar_allgatherv
#cgo nocallback shmpar_sendrecv
#cgo noescape shmpar_init
#cgo noescape shmpar_error_string
#cgo noescape shmpar_bcast
#cgo noescape shmpar_allreduce
#cgo noescape shmpar_allgather
#cgo noescape shmpar_allgatherv
#cgo noescape shmpar_sendrecv
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

// shmpar_wrong_thread is returned instead of an MPI code (MPI codes are
// non-negative) by a call from a thread other than the one that called
// shmpar_init.
enum { shmpar_wrong_thread = -1, shmpar_bad_type = -2 };

static pthread_t shmpar_thread;
static int shmpar_ready;

static int shmpar_on_thread(void) {
	return shmpar_ready && pthread_equal(pthread_self(), shmpar_thread);
}

// The signals Go's runtime turns into panics or tracebacks. MPI_Init must
// leave their handlers as Go installed them.
static const int shmpar_fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
#define SHMPAR_NFAULT ((int)(sizeof shmpar_fault_signals / sizeof shmpar_fault_signals[0]))

static int shmpar_init(int *rank, int *size, int *node_rank, int *node_size, int *provided, int *restored) {
	struct sigaction before[SHMPAR_NFAULT];
	for (int i = 0; i < SHMPAR_NFAULT; i++) {
		sigaction(shmpar_fault_signals[i], NULL, &before[i]);
	}
	int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
	*restored = 0;
	for (int i = 0; i < SHMPAR_NFAULT; i++) {
		struct sigaction now;
		sigaction(shmpar_fault_signals[i], NULL, &now);
		if (now.sa_sigaction != before[i].sa_sigaction || now.sa_flags != before[i].sa_flags) {
			sigaction(shmpar_fault_signals[i], &before[i], NULL);
			(*restored)++;
		}
	}
	if (rc != MPI_SUCCESS) {
		return rc;
	}
	shmpar_thread = pthread_self();
	shmpar_ready = 1;
	if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS) {
		return rc;
	}
	if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) {
		return rc;
	}
	if ((rc = MPI_Comm_size(MPI_COMM_WORLD, size)) != MPI_SUCCESS) {
		return rc;
	}
	// The ranks that share this node (this rank's shared-memory domain),
	// for the spin setting of their teams.
	MPI_Comm node;
	if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS) {
		return rc;
	}
	if ((rc = MPI_Comm_rank(node, node_rank)) == MPI_SUCCESS) {
		rc = MPI_Comm_size(node, node_size);
	}
	MPI_Comm_free(&node);
	return rc;
}

static int shmpar_finalize(void) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	int rc = MPI_Finalize();
	if (rc == MPI_SUCCESS) shmpar_ready = 0;
	return rc;
}

static int shmpar_abort(int code) {
	return MPI_Abort(MPI_COMM_WORLD, code);
}

static int shmpar_error_string(int code, char *buf, int *len, int *class) {
	if (MPI_Error_class(code, class) != MPI_SUCCESS) *class = -1;
	return MPI_Error_string(code, buf, len);
}

static MPI_Datatype shmpar_type(int t) {
	switch (t) {
	case 1: return MPI_INT8_T;
	case 2: return MPI_INT16_T;
	case 3: return MPI_INT32_T;
	case 4: return MPI_INT64_T;
	case 5: return MPI_UINT8_T;
	case 6: return MPI_UINT16_T;
	case 7: return MPI_UINT32_T;
	case 8: return MPI_UINT64_T;
	case 9: return MPI_FLOAT;
	case 10: return MPI_DOUBLE;
	}
	return MPI_DATATYPE_NULL;
}

static MPI_Op shmpar_op(int op) {
	switch (op) {
	case 1: return MPI_SUM;
	case 2: return MPI_MIN;
	case 3: return MPI_MAX;
	}
	return MPI_OP_NULL;
}

static int shmpar_barrier(void) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	return MPI_Barrier(MPI_COMM_WORLD);
}

static int shmpar_bcast(void *buf, int count, int t, int root) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	return MPI_Bcast(buf, count, shmpar_type(t), root, MPI_COMM_WORLD);
}

static int shmpar_allreduce(void *buf, int count, int t, int op) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	return MPI_Allreduce(MPI_IN_PLACE, buf, count, shmpar_type(t), shmpar_op(op), MPI_COMM_WORLD);
}

static int shmpar_allgather(void *send, int count, void *recv, int t) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	MPI_Datatype d = shmpar_type(t);
	return MPI_Allgather(send, count, d, recv, count, d, MPI_COMM_WORLD);
}

static int shmpar_allgatherv(void *send, int count, void *recv, int *counts, int *displs, int t) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	MPI_Datatype d = shmpar_type(t);
	return MPI_Allgatherv(send, count, d, recv, counts, displs, d, MPI_COMM_WORLD);
}

static int shmpar_sendrecv(void *send, int scount, int dest, void *recv, int rcount, int source, int tag, int t, int *got) {
	if (!shmpar_on_thread()) return shmpar_wrong_thread;
	MPI_Datatype d = shmpar_type(t);
	MPI_Status st;
	*got = 0;
	int rc = MPI_Sendrecv(send, scount, d, dest < 0 ? MPI_PROC_NULL : dest, tag,
		recv, rcount, d, source < 0 ? MPI_PROC_NULL : source, tag, MPI_COMM_WORLD, &st);
	if (rc == MPI_SUCCESS) rc = MPI_Get_count(&st, d, got);
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// classTruncate is MPI_ERR_TRUNCATE's error class.
const classTruncate = C.MPI_ERR_TRUNCATE

// Built reports whether the package was built with the mpi build tag (true)
// or is the single-rank implementation (false).
const Built = true

// check turns a return code of the C side into an error.
func check(call string, rc C.int) error {
	switch rc {
	case C.MPI_SUCCESS:
		return nil
	case C.shmpar_wrong_thread:
		return fmt.Errorf("mpi: %s: %w", call, ErrThread)
	}
	var buf [C.MPI_MAX_ERROR_STRING + 1]C.char
	var n, class C.int
	msg := "unknown error"
	if C.shmpar_error_string(rc, &buf[0], &n, &class) == C.MPI_SUCCESS {
		msg = C.GoStringN(&buf[0], n)
	}
	return &Error{Call: call, Code: int(rc), Class: int(class), Msg: msg}
}

func initialize() (rank, size, nodeRank, nodeSize int, err error) {
	// Open MPI intercepts SIGSEGV, SIGBUS, SIGFPE and SIGABRT unless a
	// handler is already installed (Go's is) or opal_signal is empty; UCX,
	// where Open MPI uses it, has its own list. Ask both to keep off, unless
	// the user has said otherwise; shmpar_init restores Go's handlers anyway.
	for _, v := range []string{"OMPI_MCA_opal_signal", "UCX_ERROR_SIGNALS"} {
		if _, ok := os.LookupEnv(v); !ok {
			if err := os.Setenv(v, ""); err != nil {
				return 0, 0, 0, 0, fmt.Errorf("mpi: Init: %w", err)
			}
		}
	}
	runtime.LockOSThread() // for good: this thread is MPI's main thread
	var r, s, nr, ns, provided, restored C.int
	if err := check("Init", C.shmpar_init(&r, &s, &nr, &ns, &provided, &restored)); err != nil {
		runtime.UnlockOSThread()
		return 0, 0, 0, 0, err
	}
	if provided < C.MPI_THREAD_FUNNELED {
		return 0, 0, 0, 0, fmt.Errorf("mpi: Init: %w (provided level %d)", ErrThreadLevel, provided)
	}
	return int(r), int(s), int(nr), int(ns), nil
}

func finalize() error {
	if err := check("Finalize", C.shmpar_finalize()); err != nil {
		return err
	}
	runtime.UnlockOSThread()
	return nil
}

// paced is check for a call that only the MPI goroutine can have made
// (the C side refused any other): it also paces the calls (see pace.go).
func paced(call string, rc C.int) error {
	if rc != C.shmpar_wrong_thread {
		mpiPace.call()
	}
	return check(call, rc)
}

func barrier() error { return paced("Barrier", C.shmpar_barrier()) }

func abort(code int) error {
	if err := check("Abort", C.shmpar_abort(C.int(code))); err != nil {
		return err
	}
	return errors.New("mpi: Abort: MPI_Abort returned")
}

func bcast(buf unsafe.Pointer, count int, dt dtype, root int) error {
	return paced("Bcast", C.shmpar_bcast(buf, C.int(count), C.int(dt), C.int(root)))
}

func allreduce(buf unsafe.Pointer, count int, dt dtype, op Op) error {
	return paced("Allreduce", C.shmpar_allreduce(buf, C.int(count), C.int(dt), C.int(op)))
}

func allgather(send unsafe.Pointer, count int, recv unsafe.Pointer, dt dtype) error {
	return paced("Allgather", C.shmpar_allgather(send, C.int(count), recv, C.int(dt)))
}

func allgatherv(send unsafe.Pointer, count int, recv unsafe.Pointer, counts, displs []int32, dt dtype) error {
	return paced("Allgatherv", C.shmpar_allgatherv(send, C.int(count), recv,
		(*C.int)(unsafe.Pointer(&counts[0])), (*C.int)(unsafe.Pointer(&displs[0])), C.int(dt)))
}

func sendrecv(send unsafe.Pointer, scount, dest int, recv unsafe.Pointer, rcount, source, tag int, dt dtype) (int, error) {
	var got C.int
	err := paced("Sendrecv", C.shmpar_sendrecv(send, C.int(scount), C.int(dest), recv, C.int(rcount), C.int(source), C.int(tag), C.int(dt), &got))
	if err != nil {
		return 0, err
	}
	return int(got), nil
}
