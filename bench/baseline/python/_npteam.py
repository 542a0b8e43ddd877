"""A team of worker processes over one multiprocessing.shared_memory block,
for the numpy baselines: what a numpy programmer writes to use several
cores on one array.

Team(P, shm, views, kernels) forks P processes (the fork start method,
so that they inherit the block and the kernels). Worker r handles the
static block [lo, hi) of rank r (split on multiples of 8 elements, one
cache line) and runs kernels[i](views, lo, hi) when told to; a kernel may
return a float, which lands in partial[r]. The coordinator releases the
workers with one barrier and waits for them with another, as a parallel
for does. run(i) returns the elapsed seconds, from before the release to
after the last worker is done, so the dispatch cost is counted.
"""

import multiprocessing as mp
import time

NOOP, STOP = -1, -2


def split(n, parts, rank):
    """The static block [lo, hi) of rank among parts, on multiples of 8."""
    units = (n + 7) // 8
    lo = units * rank // parts * 8
    hi = units * (rank + 1) // parts * 8
    return min(lo, n), min(hi, n)


def _worker(rank, parts, n, buf, views, kernels, start, done, cmd, partial):
    v = views(buf)
    lo, hi = split(n, parts, rank)
    while True:
        start.wait()
        op = cmd.value
        if op == STOP:
            break
        if op != NOOP:
            r = kernels[op](v, lo, hi)
            if r is not None:
                partial[rank] = r
        done.wait()
    del v


class Team:
    def __init__(self, parts, n, buf, views, kernels):
        ctx = mp.get_context("fork")
        self.parts = parts
        self.start = ctx.Barrier(parts + 1)
        self.done = ctx.Barrier(parts + 1)
        self.cmd = ctx.Value("i", NOOP, lock=False)
        self.partial = ctx.Array("d", parts, lock=False)
        self.procs = [
            ctx.Process(target=_worker, args=(r, parts, n, buf, views, kernels, self.start, self.done, self.cmd, self.partial))
            for r in range(parts)
        ]
        for p in self.procs:
            p.start()

    def run(self, op):
        """Run kernel op on every worker's block; return the seconds taken."""
        self.cmd.value = op
        t0 = time.perf_counter()
        self.start.wait()
        self.done.wait()
        return time.perf_counter() - t0

    def wake(self):
        """An untimed round with no work (shmbench runs an empty For before
        each timed repetition, so that it starts on an awake team)."""
        self.run(NOOP)

    def close(self):
        self.cmd.value = STOP
        self.start.wait()
        for p in self.procs:
            p.join()
        return all(p.exitcode == 0 for p in self.procs)
