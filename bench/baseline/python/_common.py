"""Helpers shared by the Python baselines.

The environment contract of bench/baseline/run (see ../README.md): the
variables below select thread or process counts, sizes, repetitions and
figures; every figure is printed as one line "name value unit [notes]".
"""

import os
import re
import statistics
import sys
import time

failures = 0


def counts(var, default):
    """Parse the environment variable var (or default): counts separated by
    spaces or commas, each "123", "1e6" or "2^24"."""
    text = os.environ.get(var) or default
    out = []
    for tok in re.split(r"[\s,]+", text.strip()):
        if not tok:
            continue
        if "^" in tok:
            base, exp = tok.split("^", 1)
            v = int(base) ** int(exp)
        else:
            v = int(float(tok))
        if v < 1:
            raise SystemExit(f"{var}: bad count {tok!r}")
        out.append(v)
    return out


def threads():
    """The thread or process counts of a run (BASELINE_THREADS)."""
    return counts("BASELINE_THREADS", "1")


def quick():
    """True under BASELINE_QUICK=1: small sizes, for smoke tests."""
    return os.environ.get("BASELINE_QUICK", "") not in ("", "0")


_filter = None


def want(name):
    """Whether the figure called name is selected by BASELINE_FILTER (a
    regular expression searched in the name; unset selects all)."""
    global _filter
    if _filter is None:
        _filter = re.compile(os.environ.get("BASELINE_FILTER") or "")
    return _filter.search(name) is not None


def size_name(n):
    """n as shmbench writes it: 2^k for powers of two from 2^16 up; 1e6 for
    powers of ten from 1e3 up (as the Go benchmarks name task counts)."""
    if n >= 1 << 16 and n & (n - 1) == 0:
        return f"2^{n.bit_length() - 1}"
    s = str(n)
    if n >= 1000 and s.strip("0") == "1":
        return f"1e{len(s) - 1}"
    return s


def emit(name, value, unit, **notes):
    """Print one figure line."""
    extra = "".join(f" {k}={v}" for k, v in notes.items())
    print(f"{name} {value:.6g} {unit}{extra}", flush=True)


def fail(name, why):
    """Report a figure whose result is wrong: no figure line, a message on
    stderr and a non-zero exit status in the end."""
    global failures
    failures += 1
    print(f"{name}: FAILED: {why}", file=sys.stderr, flush=True)


def measure(rep, pre=None, min_reps=3):
    """The repetition policy, shmbench's: one untimed warm-up, then up to
    BASELINE_REPS (default 11) repetitions, stopping early once they have
    taken BASELINE_BUDGET seconds (default 5) and at least min_reps have
    run. rep() returns the figure of one repetition; pre() (untimed) runs
    before each. Returns (median, repetitions)."""
    reps = counts("BASELINE_REPS", "11")[0]
    budget = float(os.environ.get("BASELINE_BUDGET") or 5)
    if pre:
        pre()
    rep()
    vals = []
    start = time.perf_counter()
    while len(vals) < reps and not (len(vals) >= min_reps and time.perf_counter() - start > budget):
        if pre:
            pre()
        vals.append(rep())
    return statistics.median(vals), len(vals)


def timed(fn, pre=None, min_reps=3):
    """measure() of the seconds fn() takes."""

    def rep():
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    return measure(rep, pre, min_reps)


def exit_status():
    """The exit status of a program: 1 when a figure failed."""
    return 1 if failures else 0


def need_numpy():
    """Import numpy, or exit with status 3 (skipped) when it is missing."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy is missing (apt-get install python3-numpy)", file=sys.stderr)
        raise SystemExit(3)
    return numpy
