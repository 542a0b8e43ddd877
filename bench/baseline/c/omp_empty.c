// omp_empty: what one OpenMP construct with no work costs, per call — the
// baseline of shmbench's empty kernel (a For over 1024 elements whose body
// does nothing).
//
//	c/omp/empty_parallel/threads=T    #pragma omp parallel, empty region
//	c/omp/empty_for/threads=T         #pragma omp parallel for, no schedule clause
//	c/omp/empty_for/static/threads=T  ... schedule(static)
//	c/omp/empty_for/dynamic/threads=T ... schedule(dynamic, ceil(1024/(8T)))
//
// The dynamic chunk is the engine's default for Dynamic(0). A repetition
// times 1000 calls back to back (shmbench's empty kernel does the same); the
// figure is the median over repetitions of the time per call, in µs.
#include "baseline.h"
#include <omp.h>

enum { LOOP_N = 1024, CALLS = 1000 };

static int chunk;

static void rep_parallel(void *arg) {
	(void)arg;
	for (int k = 0; k < CALLS; k++) {
#pragma omp parallel
		{
			__asm__ volatile("" ::: "memory");
		}
	}
}

static void rep_for(void *arg) {
	(void)arg;
	for (int k = 0; k < CALLS; k++) {
#pragma omp parallel for
		for (int i = 0; i < LOOP_N; i++) {
		}
	}
}

static void rep_static(void *arg) {
	(void)arg;
	for (int k = 0; k < CALLS; k++) {
#pragma omp parallel for schedule(static)
		for (int i = 0; i < LOOP_N; i++) {
		}
	}
}

static void rep_dynamic(void *arg) {
	(void)arg;
	for (int k = 0; k < CALLS; k++) {
#pragma omp parallel for schedule(dynamic, chunk)
		for (int i = 0; i < LOOP_N; i++) {
		}
	}
}

int main(void) {
	long threads[16];
	int nt = env_list("BASELINE_THREADS", "1", threads, 16);
	struct {
		const char *name;
		void (*rep)(void *);
	} figs[] = {
		{"empty_parallel", rep_parallel},
		{"empty_for", rep_for},
		{"empty_for/static", rep_static},
		{"empty_for/dynamic", rep_dynamic},
	};
	for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++) {
		for (int t = 0; t < nt; t++) {
			char name[128], note[32];
			snprintf(name, sizeof name, "c/omp/%s/threads=%ld", figs[f].name, threads[t]);
			if (!want(name))
				continue;
			omp_set_num_threads((int)threads[t]);
			chunk = (LOOP_N + 8 * (int)threads[t] - 1) / (8 * (int)threads[t]);
			int k;
			double s = timed(figs[f].rep, NULL, NULL, &k);
			emit(name, s / CALLS * 1e6, "us", reps_note(k, note, sizeof note));
		}
	}
	return failures ? 1 : 0;
}
