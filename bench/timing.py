"""Small timing helpers shared by the serving benchmarks: interleaved runs, percentiles, peak RSS."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Callable

import numpy as np


def interleaved(calls: dict[str, Callable[[], object]], rounds: int, per_round: int,
                warmup: int = 3, settle: int = 1) -> dict[str, list[float]]:
    """Seconds per call for each of ``calls``, measured in alternating rounds.

    Alternating (a few calls of each, then again) spreads background load evenly over the
    variants, so their ratios stay fair on a shared machine even when absolute times drift.
    Each block first makes ``settle`` untimed calls: the engine that ran just before leaves its
    worker threads spin-waiting for a few milliseconds (onnxruntime, OpenMP), which steals the
    cores from the next engine's first call (measured: int8 right after fp32 ONNX, 27 ms instead
    of 16 ms). A server runs one engine, so that penalty is the benchmark's, not the engine's.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(settle):
                call()
            for _ in range(per_round):
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    return times


def ms(seconds: list[float], percentile: float = 50) -> float:
    """The ``percentile`` of ``seconds``, in milliseconds."""
    return float(np.percentile(seconds, percentile) * 1e3)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Reads ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` survives ``exec``, so a
    child started by a big parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
