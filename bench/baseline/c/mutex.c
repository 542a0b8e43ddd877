// mutex: a pthread mutex in shared memory, the baseline of lock.Mutex.
//
//	c/pthread/robust_mutex/uncontended    ns per lock+unlock, one process
//	c/pthread/robust_mutex/processes=2    ops/s: two processes (fork) doing
//	                                      lock, increment, unlock in a loop;
//	                                      the total of both; child=P% is the
//	                                      child's share in the last repetition
//	c/pthread/mutex/uncontended           the same with a process-shared mutex
//	c/pthread/mutex/processes=2           that is not robust
//
// The robust mutex is PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST in a
// MAP_SHARED mapping, the same contract as lock.Mutex (owner death is
// detected). The layout is lock/bench_test.go's: the mutex at offset 0, the
// protected counter on the next cache line. A contended repetition counts
// the increments of both processes between two reads of the counter under
// the lock, while the parent does its share of increments.
#include "baseline.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
	pthread_mutex_t m;
	_Alignas(64) uint64_t ctr;   // protected by m
	uint64_t child;              // protected by m: the child's increments
	_Alignas(64) atomic_int go;  // 0 wait, 1 run, 2 stop
	atomic_int ready;
};

static struct shared *sh;
static long iters;

static void lock(void) {
	int e = pthread_mutex_lock(&sh->m);
	if (e == EOWNERDEAD)
		die("mutex: owner died");
	if (e)
		die("mutex: lock: %s", strerror(e));
}

static void unlock(void) {
	int e = pthread_mutex_unlock(&sh->m);
	if (e)
		die("mutex: unlock: %s", strerror(e));
}

static double rep_uncontended(void *arg) {
	(void)arg;
	double t0 = now();
	for (long i = 0; i < iters; i++) {
		lock();
		unlock();
	}
	return (now() - t0) / (double)iters * 1e9;
}

static double child_share;

static double rep_contended(void *arg) {
	(void)arg;
	double t0 = now();
	lock();
	uint64_t base = sh->ctr, cbase = sh->child;
	unlock();
	for (long i = 0; i < iters; i++) {
		lock();
		sh->ctr++;
		unlock();
	}
	lock();
	uint64_t end = sh->ctr, cend = sh->child;
	unlock();
	double el = now() - t0;
	child_share = (double)(cend - cbase) / (double)(end - base);
	return (double)(end - base) / el;
}

static void child_loop(void) {
	atomic_store(&sh->ready, 1);
	while (atomic_load(&sh->go) == 0)
		sched_yield();
	while (atomic_load_explicit(&sh->go, memory_order_relaxed) == 1)
		for (int k = 0; k < 64; k++) {
			lock();
			sh->ctr++;
			sh->child++;
			unlock();
		}
	_exit(0);
}

static void run(const char *kind, int robust) {
	char name[128], note[64];
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	if (robust)
		pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	memset(sh, 0, sizeof *sh);
	if (pthread_mutex_init(&sh->m, &at))
		die("mutex: init failed");
	pthread_mutexattr_destroy(&at);

	int k;
	snprintf(name, sizeof name, "c/pthread/%s/uncontended", kind);
	if (want(name)) {
		double ns = measure(rep_uncontended, NULL, NULL, &k);
		emit(name, ns, "ns", reps_note(k, note, sizeof note));
	}
	snprintf(name, sizeof name, "c/pthread/%s/processes=2", kind);
	if (want(name)) {
		pid_t pid = fork();
		if (pid < 0)
			die("mutex: fork: %s", strerror(errno));
		if (pid == 0)
			child_loop();
		while (!atomic_load(&sh->ready))
			sched_yield();
		atomic_store(&sh->go, 1);
		usleep(1000); // let the child get going
		double rate = measure(rep_contended, NULL, NULL, &k);
		atomic_store(&sh->go, 2);
		int st;
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail(name, "child did not exit cleanly");
		else if (sh->ctr < (uint64_t)iters)
			fail(name, "counter %llu below the parent's %ld", (unsigned long long)sh->ctr, iters);
		else {
			snprintf(note, sizeof note, "reps=%d child=%.0f%%", k, 100 * child_share);
			emit(name, rate, "ops/s", note);
		}
	}
	pthread_mutex_destroy(&sh->m);
}

int main(void) {
	iters = quick() ? 100000 : 1000000;
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mutex: mmap: %s", strerror(errno));
	run("robust_mutex", 1);
	run("mutex", 0);
	return failures ? 1 : 0;
}
