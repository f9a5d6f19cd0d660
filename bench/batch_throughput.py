"""Batch classification of a whole image folder with ``python -m cleanmessy.batch``: photos/s at 1 and 2 processes.

    python -m bench.batch_throughput --model models/clean-or-messy --data ../shared/data/rooms

Each run is a fresh ``cleanmessy.batch`` call (model load in every worker included) over the
folder's ``train`` split, written to a temporary parquet file; the best of ``--repeats`` runs counts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.report import write_section
from cleanmessy.batch import run_batch


def measure(model: str, data: str, num_proc: int, repeats: int) -> tuple[float, int]:
    """Best wall time (s) over ``repeats`` runs of the whole batch job, and the photos it classified."""
    best, rows = float("inf"), 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            table = run_batch(data, Path(scratch) / "results.parquet", model=model, num_proc=num_proc, batch_size=32)
            best, rows = min(best, time.perf_counter() - started), table.num_rows
    return best, rows


def main() -> None:
    """Measure 1 and 2 processes; write the ``batch-throughput`` section of BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/clean-or-messy")
    parser.add_argument("--data", default="../shared/data/rooms")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    lines = ["| processes | photos | wall s | photos/s | scaling |", "|---:|---:|---:|---:|---:|"]
    base = None
    for num_proc in (1, 2):
        seconds, rows = measure(args.model, args.data, num_proc, args.repeats)
        rate = rows / seconds
        base = base or rate
        lines.append(f"| {num_proc} | {rows} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f}× |")
        print(lines[-1], flush=True)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    body = (
        "Whole job per run: dataset load, worker start, model load in each worker, decode + int8 forward in batches "
        "of 32, parquet parts, final merge. Threads per worker = cores ÷ processes. The 2 cores are the limit: "
        "a second process mostly overlaps decoding with the other's forward pass.\n\n"
        + "\n".join(lines) + f"\n\nLoad average (1, 5, 15 min) at the end: {load}."
    )
    write_section("batch-throughput", "Batch classification of a dataset: photos/s",
                  f"python -m bench.batch_throughput --model {args.model} --data {args.data}", body)


if __name__ == "__main__":
    main()
