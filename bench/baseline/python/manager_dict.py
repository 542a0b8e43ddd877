#!/usr/bin/env python3
"""Latency of a multiprocessing.Manager().dict(), the baseline of package shmap.

Every operation on a Manager dict is a round trip to the manager's server
process: the key (and value) are pickled, sent over a socket, handled by a
server thread, and the answer comes back the same way. This script measures
that from a client process, on a dict of 1024 int keys holding ints (the
shape of shmap's BenchmarkLoad and BenchmarkStore with keys=1024), and prints
one "name value unit" line per operation, the median of REPEATS timed runs of
N operations each, for example (a shared 2-core VM, Python 3):

    manager_dict_get 39.5 us
    manager_dict_set 13.5 us
    manager_dict_setdefault 13.3 us

Usage: manager_dict.py [N] [REPEATS]   (default 20000 operations, 7 repeats)
"""

import multiprocessing as mp
import statistics
import sys
import time

KEYS = 1024


def timed(fn, n, repeats):
    """Median seconds per call of fn(i) over repeats runs of n calls."""
    per_call = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        per_call.append((time.perf_counter() - start) / n)
    return statistics.median(per_call)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    with mp.Manager() as manager:
        d = manager.dict()
        for k in range(KEYS):
            d[k] = k
        mask = KEYS - 1

        def get(i):
            return d[(i * 0x9E3779B9) & mask]

        def put(i):
            d[(i * 0x9E3779B9) & mask] = i

        def setdefault(i):
            return d.setdefault((i * 0x9E3779B9) & mask, 0)

        for name, fn in (("get", get), ("set", put), ("setdefault", setdefault)):
            timed(fn, n // 10, 1)  # warm up the connection and the server
            print(f"manager_dict_{name} {timed(fn, n, repeats) * 1e6:.1f} us")


if __name__ == "__main__":
    main()
