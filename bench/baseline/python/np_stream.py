"""numpy + multiprocessing over shared memory: the bandwidth kernels of
shmbench as a numpy programmer writes them for several cores.

    py/numpy/copy/n=N/processes=P           np.copyto(a, b)                16 B/element
    py/numpy/scale/n=N/processes=P          np.multiply(b, s, out=a)       16 B
    py/numpy/add/n=N/processes=P            np.add(b, c, out=a)            24 B
    py/numpy/triad/n=N/processes=P          np.multiply(c, s, out=a);
                                            np.add(a, b, out=a)            24 B
    py/numpy/triad/blocked/n=N/processes=P  the same through a 256 KiB
                                            temporary, block by block      24 B
    py/numpy/sum/n=N/processes=P            np.sum(b)                       8 B
    py/numpy/dot/n=N/processes=P            np.dot(b, c)                   16 B

The arrays a, b, c (n float64 each) are numpy views of one
multiprocessing.shared_memory block; P worker processes (see _npteam.py)
each work on their static block, the reductions add the per-process
partials. GB/s counts as STREAM does (bytes read + written, 10^9 B), also
printed as seconds per repetition; s = 3. Inputs and checks are those of
../c/stream.c: every result is verified exactly. BLAS is held to one thread
per process (OPENBLAS_NUM_THREADS=1 and friends).
"""

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys  # noqa: E402
from multiprocessing import shared_memory  # noqa: E402

from _common import counts, emit, exit_status, fail, measure, need_numpy, quick, size_name, threads, want  # noqa: E402
from _npteam import Team  # noqa: E402

np = need_numpy()

S = 3.0
BLOCK = 1 << 15  # elements of the blocked triad's temporary: 256 KiB


def inputs(lo, hi):
    i = np.arange(lo, hi, dtype=np.int64)
    return (i % 1024) * 0.25 - 128, ((i * 7) % 512) * 0.5 - 128


def k_copy(v, lo, hi):
    a, b, c = v
    np.copyto(a[lo:hi], b[lo:hi])


def k_scale(v, lo, hi):
    a, b, c = v
    np.multiply(b[lo:hi], S, out=a[lo:hi])


def k_add(v, lo, hi):
    a, b, c = v
    np.add(b[lo:hi], c[lo:hi], out=a[lo:hi])


def k_triad(v, lo, hi):
    a, b, c = v
    np.multiply(c[lo:hi], S, out=a[lo:hi])
    np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])


_tmp = None


def k_triad_blocked(v, lo, hi):
    global _tmp
    a, b, c = v
    if _tmp is None:
        _tmp = np.empty(BLOCK)
    for s in range(lo, hi, BLOCK):
        e = min(s + BLOCK, hi)
        t = _tmp[: e - s]
        np.multiply(c[s:e], S, out=t)
        np.add(b[s:e], t, out=a[s:e])


def k_sum(v, lo, hi):
    return float(np.sum(v[1][lo:hi]))


def k_dot(v, lo, hi):
    return float(np.dot(v[1][lo:hi], v[2][lo:hi]))


def k_init(v, lo, hi):
    a, b, c = v
    a[lo:hi] = 0
    b[lo:hi], c[lo:hi] = inputs(lo, hi)


KERNELS = [k_init, k_copy, k_scale, k_add, k_triad, k_triad_blocked, k_sum, k_dot]
# name, kernel index, bytes per element, expected a (None for reductions)
FIGS = [
    ("copy", 1, 16, lambda b, c: b),
    ("scale", 2, 16, lambda b, c: S * b),
    ("add", 3, 24, lambda b, c: b + c),
    ("triad", 4, 24, lambda b, c: b + S * c),
    ("triad/blocked", 5, 24, lambda b, c: b + S * c),
    ("sum", 6, 8, None),
    ("dot", 7, 16, None),
]


def exact(n):
    """The exact sum of b and dot product of b and c (integers: 4b, 2c)."""
    s = d = 0
    for lo in range(0, n, 1 << 22):
        i = np.arange(lo, min(lo + (1 << 22), n), dtype=np.int64)
        b4, c2 = i % 1024 - 512, (i * 7) % 512 - 256
        s += int(b4.sum())
        d += int((b4 * c2).sum())
    return s / 4, d / 8


def wrong(a, n, expect):
    """The number of elements of a that differ from expect(b, c)."""
    bad = 0
    for lo in range(0, n, 1 << 22):
        hi = min(lo + (1 << 22), n)
        b, c = inputs(lo, hi)
        bad += int(np.count_nonzero(a[lo:hi] != expect(b, c)))
    return bad


def main():
    sizes = counts("BASELINE_N", "2^20" if quick() else "2^24 2^26")
    for n in sizes:
        nb = size_name(n)
        names = [f"py/numpy/{f[0]}/n={nb}/processes={p}" for f in FIGS for p in threads()]
        if not any(want(x) for x in names):
            continue
        shm = shared_memory.SharedMemory(create=True, size=3 * n * 8)
        try:
            views = lambda buf: tuple(np.ndarray(n, np.float64, buffer=buf, offset=k * n * 8) for k in range(3))  # noqa: E731
            a = views(shm.buf)[0]
            want_sum, want_dot = exact(n)
            first = True
            for p in threads():
                team = Team(p, n, shm.buf, views, KERNELS)
                if first:  # first touch by the workers, in their blocks
                    team.run(0)
                    first = False
                for fname, op, nbytes, expect in FIGS:
                    name = f"py/numpy/{fname}/n={nb}/processes={p}"
                    if not want(name):
                        continue
                    if expect is not None:
                        a[:] = np.nan  # a run that skips elements cannot verify
                    sec, k = measure(lambda: team.run(op), team.wake)
                    if expect is None:
                        got, w = sum(team.partial), (want_sum if fname == "sum" else want_dot)
                        if got != w:
                            fail(name, f"got {got!r}, want {w!r}")
                            continue
                    else:
                        bad = wrong(a, n, expect)
                        if bad:
                            fail(name, f"{bad} of {n} elements wrong")
                            continue
                    emit(name, nbytes * n / sec / 1e9, "GB/s", reps=k)
                    emit(name, sec, "s", reps=k)
                if not team.close():
                    fail(f"py/numpy/n={nb}/processes={p}", "a worker process failed")
            del a
        finally:
            shm.close()
            shm.unlink()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
