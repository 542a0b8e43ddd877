// baseline.h: what every C baseline program shares — the environment
// contract of bench/baseline/run (see ../README.md), timing, medians and the
// output line "name value unit [notes]".
#ifndef BASELINE_H
#define BASELINE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// now returns CLOCK_MONOTONIC in seconds.
static inline double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// die prints a message to stderr and exits with status 2.
static inline void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

// parse_count parses "123", "1e6" or "2^24" as a positive count.
static inline long parse_count(const char *s) {
	char *end;
	if (strchr(s, '^')) {
		long base = strtol(s, &end, 10);
		if (*end != '^')
			die("bad count \"%s\"", s);
		long e = strtol(end + 1, &end, 10);
		if (*end || base < 1 || e < 0 || e > 62)
			die("bad count \"%s\"", s);
		long v = 1;
		while (e-- > 0)
			v *= base;
		return v;
	}
	double d = strtod(s, &end);
	if (*end || d < 1 || d > 9e18)
		die("bad count \"%s\"", s);
	return (long)d;
}

// env_list parses the environment variable name (or def when it is unset or
// empty), a list of counts separated by spaces or commas, into out; it
// returns the number of entries.
static inline int env_list(const char *name, const char *def, long *out, int max) {
	const char *v = getenv(name);
	if (!v || !*v)
		v = def;
	char *buf = strdup(v), *save = NULL;
	int k = 0;
	for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
		if (k == max)
			die("%s: more than %d entries", name, max);
		out[k++] = parse_count(t);
	}
	free(buf);
	return k;
}

// env_long returns the environment variable name as a count, or def.
static inline long env_long(const char *name, long def) {
	const char *v = getenv(name);
	return v && *v ? parse_count(v) : def;
}

// env_double returns the environment variable name as a number, or def.
static inline double env_double(const char *name, double def) {
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	double d = strtod(v, &end);
	if (*end || !(d > 0))
		die("bad %s \"%s\"", name, v);
	return d;
}

// quick is true under BASELINE_QUICK=1: smaller sizes, for smoke tests.
static inline int quick(void) {
	const char *v = getenv("BASELINE_QUICK");
	return v && *v && strcmp(v, "0") != 0;
}

// want reports whether the figure called name is selected by BASELINE_FILTER
// (an extended regular expression; unset selects everything).
static inline int want(const char *name) {
	static int init;
	static regex_t re;
	static int have;
	if (!init) {
		init = 1;
		const char *f = getenv("BASELINE_FILTER");
		if (f && *f) {
			if (regcomp(&re, f, REG_EXTENDED | REG_NOSUB) != 0)
				die("bad BASELINE_FILTER \"%s\"", f);
			have = 1;
		}
	}
	return !have || regexec(&re, name, 0, NULL, 0) == 0;
}

// size_name writes n as shmbench does: 2^k for powers of two from 2^16 up,
// else the decimal number.
static inline const char *size_name(long n, char *buf, size_t len) {
	if (n >= (1L << 16) && (n & (n - 1)) == 0)
		snprintf(buf, len, "2^%d", __builtin_ctzl((unsigned long)n));
	else
		snprintf(buf, len, "%ld", n);
	return buf;
}

// failures counts figures whose result did not verify; main returns it.
static int failures;

// emit prints one figure line. notes may be NULL.
static inline void emit(const char *name, double value, const char *unit, const char *notes) {
	if (notes && *notes)
		printf("%s %.6g %s %s\n", name, value, unit, notes);
	else
		printf("%s %.6g %s\n", name, value, unit);
	fflush(stdout);
}

// fail reports a figure whose result is wrong: a line on stderr, no figure,
// and a non-zero exit status in the end (fast and wrong is not a result).
static inline void fail(const char *name, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: FAILED: ", name);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static inline int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// median sorts x[0:n] and returns its median.
static inline double median(double *x, int n) {
	qsort(x, (size_t)n, sizeof x[0], cmp_double);
	return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

// The repetition policy, shmbench's: 1 untimed warm-up, then BASELINE_REPS
// (default 11) timed repetitions, the median reported. A figure stops early
// once its timed repetitions have taken BASELINE_BUDGET seconds (default 5)
// and at least 3 have run, so that slow figures stay bounded; the line then
// says reps=K.
#define MAX_REPS 1001

// measure runs rep (with arg) once untimed, then up to the policy's number
// of timed repetitions; before each one it calls pre (when not NULL). rep
// returns the figure of one repetition (seconds, a rate, ...); measure
// returns their median and sets *nreps. The budget counts wall time.
static inline double measure(double (*rep)(void *), void (*pre)(void *), void *arg, int *nreps) {
	static double v[MAX_REPS];
	long reps = env_long("BASELINE_REPS", 11);
	double budget = env_double("BASELINE_BUDGET", 5);
	if (reps > MAX_REPS)
		reps = MAX_REPS;
	if (pre)
		pre(arg);
	rep(arg);
	double start = now();
	int k = 0;
	while (k < reps && !(k >= 3 && now() - start > budget)) {
		if (pre)
			pre(arg);
		v[k++] = rep(arg);
	}
	*nreps = k;
	return median(v, k);
}

struct timed_arg {
	void (*rep)(void *);
	void (*pre)(void *);
	void *arg;
};

static inline double timed_rep(void *p) {
	struct timed_arg *t = p;
	double t0 = now();
	t->rep(t->arg);
	return now() - t0;
}

static inline void timed_pre(void *p) {
	struct timed_arg *t = p;
	t->pre(t->arg);
}

// timed is measure for a repetition that returns nothing: the figure is
// its time in seconds.
static inline double timed(void (*rep)(void *), void (*pre)(void *), void *arg, int *nreps) {
	struct timed_arg t = {rep, pre, arg};
	return measure(timed_rep, pre ? timed_pre : NULL, &t, nreps);
}

// reps_note formats "reps=K" for emit.
static inline const char *reps_note(int k, char *buf, size_t len) {
	snprintf(buf, len, "reps=%d", k);
	return buf;
}

#endif
