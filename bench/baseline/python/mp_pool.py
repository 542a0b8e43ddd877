"""multiprocessing.Pool(2): the baseline of shmpar's Pool.

    py/pool/map2                      µs per Pool.map of 2 no-op tasks
    py/pool/map/n=1e6/chunk=auto      tasks/s, map of x*x over 10^6 ints,
                                      automatic chunksize
    py/pool/map/n=1e5/chunk=1         tasks/s, chunksize=1 (10^5 tasks: a
                                      million would take half a minute)

Latency: a repetition is a batch of 100 maps; the figure is the median
over repetitions of the mean time per map. Throughput: the median of
tasks/s over repetitions of one map each. The pool uses the default
start method (notes: start=...).
"""

import multiprocessing as mp
import sys
import time

from _common import emit, exit_status, fail, measure, quick, size_name, want


def noop(_):
    return None


def sq(x):
    return x * x


def main():
    q = quick()
    start = mp.get_start_method()
    with mp.Pool(2) as pool:
        pool.map(noop, [None, None])  # workers up
        name = "py/pool/map2"
        if want(name):
            two = [None, None]
            batch = 20 if q else 100

            def rep():
                t0 = time.perf_counter()
                for _ in range(batch):
                    pool.map(noop, two)
                return (time.perf_counter() - t0) / batch * 1e6

            v, k = measure(rep)
            emit(name, v, "us", reps=k, start=start)
        for chunk, n in (("auto", 10**5 if q else 10**6), (1, 10**4 if q else 10**5)):
            name = f"py/pool/map/n={size_name(n)}/chunk={chunk}"
            if not want(name):
                continue
            data = list(range(n))
            cs = None if chunk == "auto" else chunk
            ok = True

            def rep():
                nonlocal ok
                t0 = time.perf_counter()
                out = pool.map(sq, data, chunksize=cs)
                el = time.perf_counter() - t0
                ok = ok and len(out) == n and out[-1] == (n - 1) ** 2
                return n / el

            v, k = measure(rep, min_reps=1)
            if not ok:
                fail(name, "wrong results")
                continue
            emit(name, v, "tasks/s", reps=k, start=start)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
