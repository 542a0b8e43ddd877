"""multiprocessing.Pipe: the baseline of queue.Pipe.

    py/pipe/round_trip   µs per round trip of 8 bytes (send_bytes, the
                         child echoes with recv_bytes/send_bytes, recv_bytes)

A repetition times a batch of 10^4 round trips (10^3 with BASELINE_QUICK);
the figure is the median time per round trip.
"""

import multiprocessing as mp
import sys
import time

from _common import emit, exit_status, fail, measure, quick, want


def echo(conn):
    while True:
        m = conn.recv_bytes()
        if not m:
            return
        conn.send_bytes(m)


def main():
    name = "py/pipe/round_trip"
    if not want(name):
        return 0
    trips = 1000 if quick() else 10_000
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    msg = b"12345678"
    ok = True

    def rep():
        nonlocal ok
        t0 = time.perf_counter()
        for _ in range(trips):
            a.send_bytes(msg)
            ok = ok and a.recv_bytes() == msg
        return (time.perf_counter() - t0) / trips * 1e6

    v, k = measure(rep)
    a.send_bytes(b"")
    p.join()
    if not ok or p.exitcode != 0:
        fail(name, "wrong echo or echo process failed")
    else:
        emit(name, v, "us", reps=k)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
