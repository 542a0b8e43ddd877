"""multiprocessing.Value with its lock: the baseline of a value.Value under
its lock, and of lock.Mutex contended by 2 processes.

    py/value/lock/processes=2   ops/s: 2 processes each doing
                                `with v.get_lock(): v.value += 1`

A repetition starts both processes, releases them together (a barrier) and
times until the later one's last increment (each records its end time);
the counter must then equal the number of increments. 2·10^5 increments
per repetition (2·10^4 with BASELINE_QUICK).
"""

import multiprocessing as mp
import sys
import time

from _common import emit, exit_status, fail, measure, quick, want


def incr(v, n, ready, ends, idx):
    ready.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1
    ends[idx] = time.perf_counter()


def main():
    name = "py/value/lock/processes=2"
    if not want(name):
        return 0
    total = 20_000 if quick() else 200_000
    ok = True

    def rep():
        nonlocal ok
        v = mp.Value("q", 0)
        ready = mp.Barrier(3)
        ends = mp.Array("d", 2, lock=False)
        procs = [mp.Process(target=incr, args=(v, total // 2, ready, ends, i)) for i in range(2)]
        for p in procs:
            p.start()
        ready.wait()
        t0 = time.perf_counter()
        for p in procs:
            p.join()
        ok = ok and v.value == total // 2 * 2
        return total / (max(ends) - t0)

    r, k = measure(rep)
    if not ok:
        fail(name, "lost increments")
    else:
        emit(name, r, "ops/s", reps=k)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
