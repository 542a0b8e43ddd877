// logistic: shmbench's compute-bound kernel in C with OpenMP — 200 steps of
// x ↦ r·x·(1−x), r = 3.9, per element, dst[i] from x[i] (bench.Logistic).
//
// baseline-build: logistic
// baseline-build: logistic_scalar -fno-tree-vectorize -DSCALAR
//
//	c/omp/logistic/n=N/threads=T         blocked: every step over a block of
//	                                     512 elements (4 KiB, in L1) at a time,
//	                                     which gcc -O3 -march=native vectorizes
//	c/omp/logistic/scalar/n=N/threads=T  the reference loop (one element's 200
//	                                     steps, then the next), built with
//	                                     -fno-tree-vectorize: what shmpar's Go
//	                                     kernel does today
//
// Both compute (r·v)·(1−v) in the same order for each element, so both give
// the bits of bench.Logistic; a sample of elements is checked against the
// reference loop. Seconds per repetition (schedule(static)).
#include "baseline.h"
#include <omp.h>
#include <sys/mman.h>

enum { STEPS = 200, BLOCK = 512 };
static const double R = 3.9;
static double *dst, *x;
static long n;

static void wake(void *arg) {
	(void)arg;
#pragma omp parallel
	{
		__asm__ volatile("" ::: "memory");
	}
}

// ref1 is the reference loop for one element.
static double ref1(double v) {
	for (int s = 0; s < STEPS; s++)
		v = R * v * (1 - v);
	return v;
}

#ifdef SCALAR
#define NAME "logistic/scalar"
static void rep(void *arg) {
	(void)arg;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++) {
		double v = x[i];
		for (int s = 0; s < STEPS; s++)
			v = R * v * (1 - v);
		dst[i] = v;
	}
}
#else
#define NAME "logistic"
static void rep(void *arg) {
	(void)arg;
	const long nb = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
	for (long k = 0; k < nb; k++) {
		const long lo = k * BLOCK, hi = lo + BLOCK < n ? lo + BLOCK : n;
		double *restrict d = dst + lo;
		const double *restrict in = x + lo;
		const long m = hi - lo;
		for (long i = 0; i < m; i++)
			d[i] = in[i];
		for (int s = 0; s < STEPS; s++)
			for (long i = 0; i < m; i++)
				d[i] = R * d[i] * (1 - d[i]);
	}
}
#endif

int main(void) {
	long threads[16], sizes[16];
	int nt = env_list("BASELINE_THREADS", "1", threads, 16);
	int nn = env_list("BASELINE_LOGISTIC_N", quick() ? "2^14" : "2^17 2^22", sizes, 16);
	for (int s = 0; s < nn; s++) {
		n = sizes[s];
		char nb[32];
		size_name(n, nb, sizeof nb);
		size_t len = (size_t)n * sizeof(double);
		dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		x = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (dst == MAP_FAILED || x == MAP_FAILED)
			die("logistic: mmap: %s", strerror(errno));
		for (long i = 0; i < n; i++) // inside (0, 1), irregular
			x[i] = 0.05 + 0.9 * ((double)((i * 2654435761L) % 1000003) / 1000003);
		for (int t = 0; t < nt; t++) {
			char name[128], note[32];
			snprintf(name, sizeof name, "c/omp/%s/n=%s/threads=%ld", NAME, nb, threads[t]);
			if (!want(name))
				continue;
			omp_set_num_threads((int)threads[t]);
			for (long i = 0; i < n; i++)
				dst[i] = NAN;
			int k;
			double sec = timed(rep, wake, NULL, &k);
			long bad = 0, step = n / 4096 ? n / 4096 : 1;
			for (long i = 0; i < n; i += step)
				bad += dst[i] != ref1(x[i]);
			if (bad) {
				fail(name, "%ld sampled elements differ from the reference loop", bad);
				continue;
			}
			emit(name, sec, "s", reps_note(k, note, sizeof note));
		}
		munmap(dst, len);
		munmap(x, len);
	}
	return failures ? 1 : 0;
}
