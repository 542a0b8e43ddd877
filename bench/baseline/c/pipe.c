// pipe: the round trip of an 8-byte message through pipe(2) between two
// processes, the baseline of queue.Pipe.
//
//	c/pipe/round_trip   µs per round trip: the parent writes 8 bytes to one
//	                    pipe, a forked child reads them and writes them back
//	                    on another, the parent reads the echo
//
// A repetition times a batch of round trips (10000; 1000 with
// BASELINE_QUICK) and the figure is the median time per round trip.
#include "baseline.h"
#include <sys/wait.h>
#include <unistd.h>

static int to_child[2], to_parent[2];
static long trips;

static void full_read(int fd, char *p, size_t n) {
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("pipe: read: %s", r == 0 ? "EOF" : strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

static void full_write(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("pipe: write: %s", strerror(errno));
		p += r;
		n -= (size_t)r;
	}
}

static double rep(void *arg) {
	(void)arg;
	char msg[8] = "1234567", buf[8];
	double t0 = now();
	for (long i = 0; i < trips; i++) {
		msg[0] = (char)i;
		full_write(to_child[1], msg, 8);
		full_read(to_parent[0], buf, 8);
		if (buf[0] != msg[0])
			die("pipe: wrong echo");
	}
	return (now() - t0) / (double)trips * 1e6;
}

int main(void) {
	const char *name = "c/pipe/round_trip";
	if (!want(name))
		return 0;
	trips = quick() ? 1000 : 10000;
	if (pipe(to_child) || pipe(to_parent))
		die("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("pipe: fork: %s", strerror(errno));
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		char buf[8];
		for (;;) {
			ssize_t r = read(to_child[0], buf, 8);
			if (r == 0)
				_exit(0);
			if (r != 8)
				_exit(1);
			full_write(to_parent[1], buf, 8);
		}
	}
	close(to_child[0]);
	close(to_parent[1]);
	int k;
	char note[32];
	double us = measure(rep, NULL, NULL, &k);
	close(to_child[1]);
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail(name, "echo child did not exit cleanly");
	else
		emit(name, us, "us", reps_note(k, note, sizeof note));
	return failures ? 1 : 0;
}
