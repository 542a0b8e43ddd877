"""multiprocessing.Queue: the baseline of queue.Queue.

    py/queue/1to1/8B   msgs/s, 1 producer process → 1 consumer process
    py/queue/4to4/8B   msgs/s, 4 producers → 4 consumers, one queue

Messages are 8-byte bytes objects. A repetition starts the processes, waits
until all are ready (a barrier), then times from the release to the last
consumer's last message (each consumer records its end time), so process
start and exit are not counted: the method of queue's BenchmarkQueue.
2·10^5 messages per repetition (2·10^4 with BASELINE_QUICK).
"""

import multiprocessing as mp
import sys
import time

from _common import emit, exit_status, fail, measure, quick, want

MSG = b"12345678"


def producer(q, n, ready):
    ready.wait()
    for _ in range(n):
        q.put(MSG)


def consumer(q, n, ready, ends, idx, bad):
    ready.wait()
    for _ in range(n):
        if q.get() != MSG:
            with bad.get_lock():
                bad.value += 1
    ends[idx] = time.perf_counter()


def shares(n, k):
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def main():
    total = 20_000 if quick() else 200_000
    for p, c in ((1, 1), (4, 4)):
        name = f"py/queue/{p}to{c}/8B"
        if not want(name):
            continue
        ok = True

        def rep():
            nonlocal ok
            q = mp.Queue()
            ready = mp.Barrier(p + c + 1)
            ends = mp.Array("d", c, lock=False)
            bad = mp.Value("q", 0)
            procs = [mp.Process(target=consumer, args=(q, m, ready, ends, i, bad)) for i, m in enumerate(shares(total, c))]
            procs += [mp.Process(target=producer, args=(q, m, ready)) for m in shares(total, p)]
            for pr in procs:
                pr.start()
            ready.wait()
            t0 = time.perf_counter()
            for pr in procs:
                pr.join()
            ok = ok and bad.value == 0 and all(pr.exitcode == 0 for pr in procs)
            return total / (max(ends) - t0)

        v, k = measure(rep)
        if not ok:
            fail(name, "a process failed or a message was wrong")
            continue
        emit(name, v, "msgs/s", reps=k)
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
