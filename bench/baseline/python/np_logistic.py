"""numpy + multiprocessing: shmbench's logistic kernel (200 steps of
x ↦ r·x·(1−x), r = 3.9, dst[i] from x[i]) as a numpy programmer writes it.

    py/numpy/logistic/n=N/processes=P   seconds per repetition

Each worker process takes its static block of dst and x (numpy views of one
multiprocessing.shared_memory block, see _npteam.py) and goes through it in
blocks of BLOCK elements, in place: copy x into dst's block, then 200 times
u = 1 − t; t *= r; t *= u (three ufunc calls with out=, no temporaries).
That computes (r·v)·(1−v) as bench.Logistic does, so the result is
checked bit for bit on a sample against the reference loop.
"""

import sys
from multiprocessing import shared_memory

from _common import counts, emit, exit_status, fail, measure, need_numpy, quick, size_name, threads, want
from _npteam import Team

np = need_numpy()

R, STEPS = 3.9, 200
BLOCK = 1 << 14  # 128 KiB per array block: t and u stay in L2, calls stay few

_u = None


def k_logistic(v, lo, hi):
    global _u
    dst, x = v
    if _u is None:
        _u = np.empty(BLOCK)
    for s in range(lo, hi, BLOCK):
        e = min(s + BLOCK, hi)
        t, u = dst[s:e], _u[: e - s]
        np.copyto(t, x[s:e])
        for _ in range(STEPS):
            np.subtract(1.0, t, out=u)
            np.multiply(t, R, out=t)
            np.multiply(t, u, out=t)


def k_init(v, lo, hi):
    dst, x = v
    i = np.arange(lo, hi, dtype=np.int64)
    x[lo:hi] = 0.05 + 0.9 * ((i * 2654435761) % 1000003) / 1000003
    dst[lo:hi] = 0


def ref(v):
    for _ in range(STEPS):
        v = R * v * (1 - v)
    return v


def main():
    for n in counts("BASELINE_LOGISTIC_N", "2^14" if quick() else "2^17 2^22"):
        nb = size_name(n)
        if not any(want(f"py/numpy/logistic/n={nb}/processes={p}") for p in threads()):
            continue
        shm = shared_memory.SharedMemory(create=True, size=2 * n * 8)
        try:
            views = lambda buf: tuple(np.ndarray(n, np.float64, buffer=buf, offset=k * n * 8) for k in range(2))  # noqa: E731
            dst, x = views(shm.buf)
            first = True
            for p in threads():
                name = f"py/numpy/logistic/n={nb}/processes={p}"
                if not want(name):
                    continue
                team = Team(p, n, shm.buf, views, [k_init, k_logistic])
                if first:
                    team.run(0)
                    first = False
                dst[:] = np.nan
                sec, k = measure(lambda: team.run(1), team.wake)
                ok = team.close()
                step = max(n // 257, 1)
                bad = sum(1 for i in range(0, n, step) if dst[i] != ref(float(x[i])))
                if not ok or bad:
                    fail(name, f"{bad} sampled elements differ from the reference loop" if bad else "a worker failed")
                    continue
                emit(name, sec, "s", reps=k)
            del dst, x
        finally:
            shm.close()
            shm.unlink()
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
