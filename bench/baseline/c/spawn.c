// spawn: starting a process that exits at once and waiting for it, the
// baseline of shmpar's Spawn and of a team's start-up.
//
//	c/spawn/fork_exec/static      fork, execve, waitpid of exit0_static
//	                              (no C library: exit is its first instruction)
//	c/spawn/fork_exec/dynamic     the same with exit0_dynamic (a dynamically
//	                              linked int main(void) { return 0; })
//	c/spawn/posix_spawn/static    posix_spawn instead of fork + execve
//	c/spawn/posix_spawn/dynamic
//
// µs per spawn (from before the fork to after waitpid). A repetition times
// a batch of 100 spawns (20 with BASELINE_QUICK); the figure is the median
// time per spawn. The helpers are looked up in the directory of this
// program (bench/baseline/run builds them there) or in BASELINE_BIN.
#include "baseline.h"
#include <libgen.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long batch;

struct job {
	const char *path;
	int posix;
};

static void wait_ok(pid_t pid, const char *path) {
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("spawn: waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("spawn: %s did not exit with status 0", path);
}

static double rep(void *arg) {
	struct job *j = arg;
	char *argv[] = {(char *)j->path, NULL};
	double t0 = now();
	for (long i = 0; i < batch; i++) {
		pid_t pid;
		if (j->posix) {
			int e = posix_spawn(&pid, j->path, NULL, NULL, argv, environ);
			if (e)
				die("spawn: posix_spawn %s: %s", j->path, strerror(e));
		} else {
			pid = fork();
			if (pid < 0)
				die("spawn: fork: %s", strerror(errno));
			if (pid == 0) {
				execve(j->path, argv, environ);
				_exit(127);
			}
		}
		wait_ok(pid, j->path);
	}
	return (now() - t0) / (double)batch * 1e6;
}

int main(int argc, char **argv) {
	(void)argc;
	batch = quick() ? 20 : 100;
	const char *dir = getenv("BASELINE_BIN");
	if (!dir || !*dir)
		dir = dirname(strdup(argv[0]));
	const char *kinds[] = {"static", "dynamic"};
	for (int posix = 0; posix < 2; posix++)
		for (int d = 0; d < 2; d++) {
			char name[96], path[4096], note[32];
			snprintf(name, sizeof name, "c/spawn/%s/%s", posix ? "posix_spawn" : "fork_exec", kinds[d]);
			if (!want(name))
				continue;
			snprintf(path, sizeof path, "%s/exit0_%s", dir, kinds[d]);
			if (access(path, X_OK) != 0) {
				fail(name, "helper %s: %s", path, strerror(errno));
				continue;
			}
			struct job j = {path, posix};
			int k;
			double us = measure(rep, NULL, &j, &k);
			emit(name, us, "us", reps_note(k, note, sizeof note));
		}
	return failures ? 1 : 0;
}
