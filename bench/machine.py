"""How steady this machine is just now: the same small computation timed many times.

Benchmarks here compare a run with a floor measured minutes apart, or one release with
another. On a virtual machine whose host shares or throttles its CPUs, identical work runs
at different speeds by moments (on the 2-core machine of these benchmarks, at two speeds up
to 2x apart, for seconds to minutes at a time), and every such comparison moves with it.
This prints the spread next to the figures, so that a reader can tell how far to trust them.
"""

from __future__ import annotations

import os
import statistics
import time

SLICES = 300   # ~20 ms each: a few seconds in all


def steadiness(cpu: int, slices: int = SLICES) -> tuple[float, float, float]:
    """(10th percentile, median, 90th percentile) CPU milliseconds of one fixed pure-Python
    computation timed `slices` times in a row on `cpu`. On a steady machine the
    three agree within a few per cent."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        times = []
        for _ in range(slices):
            started = time.process_time()
            sum(i * i for i in range(240_000))
            times.append(1000 * (time.process_time() - started))
    finally:
        os.sched_setaffinity(0, before)
    deciles = statistics.quantiles(times, n=10)
    return deciles[0], statistics.median(times), deciles[-1]


def steadiness_line(cpu: int) -> str:
    p10, median, p90 = steadiness(cpu)
    return (f"machine steadiness: one fixed computation, {SLICES} times on CPU {cpu}: "
            f"{p10:.1f} / {median:.1f} / {p90:.1f} ms (10th percentile / median / 90th); "
            f"90th / 10th = {p90 / p10:.2f} (1.0 on a steady machine)")
