// stream: the bandwidth kernels of shmbench in C with OpenMP, STREAM's way.
//
//	c/omp/copy/n=N/threads=T       a[i] = b[i]              16 B per element
//	c/omp/scale/n=N/threads=T      a[i] = s·b[i]            16 B
//	c/omp/add/n=N/threads=T        a[i] = b[i] + c[i]       24 B
//	c/omp/triad/n=N/threads=T      a[i] = b[i] + s·c[i]     24 B
//	c/omp/KERNEL/nt/n=N/threads=T  the same with streaming (non-temporal) stores
//	c/omp/sum/n=N/threads=T        Σ b[i], parallel for reduction(+:s)       8 B
//	c/omp/sum/simd/n=N/threads=T   Σ b[i], parallel for simd reduction(+:s)  8 B
//	c/omp/dot/n=N/threads=T        Σ b[i]·c[i] (and dot/simd)               16 B
//
// Each figure is printed twice: GB/s (STREAM's counting: bytes read plus
// bytes written, no write-allocate traffic, 10^9 bytes) and seconds per
// repetition. s = 3 (bench.StreamScalar). Loops use schedule(static), as
// shmbench's bandwidth kernels use static blocks. Without -ffast-math gcc
// keeps the plain reduction's adds in order (scalar); the simd form lets it
// reassociate into vector lanes, as the vec package's fixed-lane sums do.
//
// Arrays are mmap'd and first touched in parallel; BASELINE_C_MEM=shared
// maps them MAP_SHARED (shmem pages, as shmpar's memfd segments) instead of
// private anonymous memory (what malloc gives). Streaming stores use the
// widest vectors the build has (AVX-512, AVX or SSE2) and an sfence before
// the region ends. Every result is verified exactly (the inputs are chosen
// so that every sum is exact in any order; -ffp-contract=off keeps the
// triad free of fused multiply-adds): a figure that does not verify is not
// printed and the exit status is 1.
#include "baseline.h"
#include <omp.h>
#if defined(__SSE2__)
#include <immintrin.h>
#define HAVE_NT 1
#else
#define HAVE_NT 0 // no streaming-store intrinsics here: the /nt figures are left out
#endif
#include <stdint.h>
#include <sys/mman.h>

#if !HAVE_NT
#elif defined(__AVX512F__)
#define VW 8
#define ISA "avx512"
typedef __m512d vec;
#define vload _mm512_load_pd
#define vset1 _mm512_set1_pd
#define vadd _mm512_add_pd
#define vmul _mm512_mul_pd
#define vstream _mm512_stream_pd
#elif defined(__AVX__)
#define VW 4
#define ISA "avx"
typedef __m256d vec;
#define vload _mm256_load_pd
#define vset1 _mm256_set1_pd
#define vadd _mm256_add_pd
#define vmul _mm256_mul_pd
#define vstream _mm256_stream_pd
#else
#define VW 2
#define ISA "sse2"
typedef __m128d vec;
#define vload _mm_load_pd
#define vset1 _mm_set1_pd
#define vadd _mm_add_pd
#define vmul _mm_mul_pd
#define vstream _mm_stream_pd
#endif

static const double S = 3.0;
static double *a, *b, *c;
static long n;
static double result;

// Inputs: b[i] = (i%1024)/4 − 128 and c[i] = ((7i)%512)/2 − 128 are exact
// binary fractions, so every partial sum of b and of b·c is exact.
static inline double bval(long i) { return (double)(i % 1024) * 0.25 - 128; }
static inline double cval(long i) { return (double)((i * 7) % 512) * 0.5 - 128; }

static void wake(void *arg) {
	(void)arg;
#pragma omp parallel
	{
		__asm__ volatile("" ::: "memory");
	}
}

static void k_copy(void *arg) {
	(void)arg;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++)
		a[i] = b[i];
}

static void k_scale(void *arg) {
	(void)arg;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++)
		a[i] = S * b[i];
}

static void k_add(void *arg) {
	(void)arg;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++)
		a[i] = b[i] + c[i];
}

static void k_triad(void *arg) {
	(void)arg;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++)
		a[i] = b[i] + S * c[i];
}

// The streaming-store kernels split [0, n) into vectors of VW elements
// (aligned: the arrays start on a page), statically, and finish the tail
// of fewer than VW elements with plain stores.
#define NT_KERNEL(NAME, VEXPR, SEXPR)                                           \
	static void NAME(void *arg) {                                           \
		(void)arg;                                                      \
		const long nv = n / VW;                                         \
		_Pragma("omp parallel")                                         \
		{                                                               \
			const vec vs = vset1(S);                                \
			(void)vs;                                               \
			_Pragma("omp for schedule(static) nowait")              \
			for (long j = 0; j < nv; j++) {                         \
				const long i = j * VW;                          \
				vstream(&a[i], VEXPR);                          \
			}                                                       \
			_mm_sfence();                                           \
		}                                                               \
		for (long i = nv * VW; i < n; i++)                              \
			a[i] = SEXPR;                                           \
	}

#if HAVE_NT
NT_KERNEL(k_copy_nt, vload(&b[i]), b[i])
NT_KERNEL(k_scale_nt, vmul(vs, vload(&b[i])), S * b[i])
NT_KERNEL(k_add_nt, vadd(vload(&b[i]), vload(&c[i])), b[i] + c[i])
NT_KERNEL(k_triad_nt, vadd(vload(&b[i]), vmul(vs, vload(&c[i]))), b[i] + S * c[i])
#else
#define ISA "none"
#define k_copy_nt NULL
#define k_scale_nt NULL
#define k_add_nt NULL
#define k_triad_nt NULL
#endif

static void k_sum(void *arg) {
	(void)arg;
	double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
	for (long i = 0; i < n; i++)
		s += b[i];
	result = s;
}

static void k_sum_simd(void *arg) {
	(void)arg;
	double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
	for (long i = 0; i < n; i++)
		s += b[i];
	result = s;
}

static void k_dot(void *arg) {
	(void)arg;
	double s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
	for (long i = 0; i < n; i++)
		s += b[i] * c[i];
	result = s;
}

static void k_dot_simd(void *arg) {
	(void)arg;
	double s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
	for (long i = 0; i < n; i++)
		s += b[i] * c[i];
	result = s;
}

enum op { COPY, SCALE, ADD, TRIAD, SUM, DOT };

// expect returns a[i] as the kernel op must leave it.
static inline double expect(enum op op, long i) {
	switch (op) {
	case COPY:
		return bval(i);
	case SCALE:
		return S * bval(i);
	case ADD:
		return bval(i) + cval(i);
	default:
		return bval(i) + S * cval(i);
	}
}

// verify_array counts the elements of a that differ from expect(op, i).
static long verify_array(enum op op) {
	long bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
	for (long i = 0; i < n; i++)
		bad += a[i] != expect(op, i);
	return bad;
}

// exact_reduction returns the exact sum (dot=0) or dot product (dot=1) of
// the inputs, computed in integers: 4·b and 2·c are integers.
static double exact_reduction(int dot) {
	int64_t s = 0;
	for (long i = 0; i < n; i++) {
		int64_t b4 = i % 1024 - 512, c2 = (i * 7) % 512 - 256;
		s += dot ? b4 * c2 : b4;
	}
	return dot ? (double)s / 8 : (double)s / 4;
}

static double *map_array(int shared) {
	size_t len = (size_t)n * sizeof(double);
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS;
	double *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED)
		die("stream: mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

int main(void) {
	long threads[16], sizes[16];
	int nt = env_list("BASELINE_THREADS", "1", threads, 16);
	int nn = env_list("BASELINE_N", quick() ? "2^20" : "2^24 2^26", sizes, 16);
	const char *mem = getenv("BASELINE_C_MEM");
	int shared = mem && strcmp(mem, "shared") == 0;
	long maxt = 1;
	for (int t = 0; t < nt; t++)
		if (threads[t] > maxt)
			maxt = threads[t];

	struct {
		const char *name;
		void (*rep)(void *);
		enum op op;
		int bytes;
	} figs[] = {
		{"copy", k_copy, COPY, 16},
		{"copy/nt", k_copy_nt, COPY, 16},
		{"scale", k_scale, SCALE, 16},
		{"scale/nt", k_scale_nt, SCALE, 16},
		{"add", k_add, ADD, 24},
		{"add/nt", k_add_nt, ADD, 24},
		{"triad", k_triad, TRIAD, 24},
		{"triad/nt", k_triad_nt, TRIAD, 24},
		{"sum", k_sum, SUM, 8},
		{"sum/simd", k_sum_simd, SUM, 8},
		{"dot", k_dot, DOT, 16},
		{"dot/simd", k_dot_simd, DOT, 16},
	};
	for (int s = 0; s < nn; s++) {
		n = sizes[s];
		char nb[32];
		size_name(n, nb, sizeof nb);
		int any = 0;
		for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++)
			for (int t = 0; t < nt; t++) {
				char name[160];
				snprintf(name, sizeof name, "c/omp/%s/n=%s/threads=%ld", figs[f].name, nb, threads[t]);
				any |= want(name) && figs[f].rep;
			}
		if (!any)
			continue;
		a = map_array(shared);
		b = map_array(shared);
		c = map_array(shared);
		omp_set_num_threads((int)maxt);
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++) {
			a[i] = 0;
			b[i] = bval(i);
			c[i] = cval(i);
		}
		double want_sum = exact_reduction(0), want_dot = exact_reduction(1);
		for (size_t f = 0; f < sizeof figs / sizeof figs[0]; f++) {
			for (int t = 0; t < nt; t++) {
				char name[160], note[96];
				snprintf(name, sizeof name, "c/omp/%s/n=%s/threads=%ld", figs[f].name, nb, threads[t]);
				if (!want(name) || !figs[f].rep)
					continue;
				omp_set_num_threads((int)threads[t]);
				enum op op = figs[f].op;
				if (op != SUM && op != DOT) {
#pragma omp parallel for schedule(static)
					for (long i = 0; i < n; i++)
						a[i] = NAN; // a run that skips elements cannot verify
				}
				result = NAN;
				int k;
				double sec = timed(figs[f].rep, wake, NULL, &k);
				if (op == SUM || op == DOT) {
					double w = op == SUM ? want_sum : want_dot;
					if (result != w) {
						fail(name, "got %.17g, want %.17g", result, w);
						continue;
					}
				} else {
					long bad = verify_array(op);
					if (bad) {
						fail(name, "%ld of %ld elements wrong", bad, n);
						continue;
					}
				}
				snprintf(note, sizeof note, "reps=%d%s%s", k, strstr(figs[f].name, "/nt") ? " isa=" ISA : "",
					 shared ? " mem=shared" : "");
				emit(name, (double)figs[f].bytes * (double)n / sec / 1e9, "GB/s", note);
				emit(name, sec, "s", note);
			}
		}
		munmap(a, (size_t)n * sizeof(double));
		munmap(b, (size_t)n * sizeof(double));
		munmap(c, (size_t)n * sizeof(double));
	}
	return failures ? 1 : 0;
}
