"""Load test of the Space: concurrent gradio_client users calling ``/predict`` on the real app.

    python -m bench.space_load --model models/clean-or-messy --data ../shared/data/rooms

Starts ``space/app.py`` (the same command ``make demo`` runs) on 127.0.0.1 for each serving
configuration, then ``--clients`` threads, each with its own ``gradio_client.Client``, send
``--requests`` uploads of validation photos in total. It reports requests/s, p50/p95 latency per
request (upload + queue + inference + reply) and the error count, which must be zero. By default
it runs the app twice: with micro-batching (``MAX_BATCH=16``) and with one photo per forward pass
(``MAX_BATCH=1``), to show what batching buys. Results go to the ``space`` section of BENCHMARKS.md.
The clients run on the same machine as the server and take some of its CPU.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.report import write_section
from cleanmessy import settings
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent


def start_app(model: str, max_batch: int, log_path: Path) -> tuple[subprocess.Popen, str, str]:
    """Run ``space/app.py``; return the process, its URL and the backend it reports, once it serves."""
    port = free_port()
    env = settings.child_environment(MODEL_ID=model, MAX_BATCH=str(max_batch), HF_HUB_OFFLINE="1",
                                     GRADIO_ANALYTICS_ENABLED="False", FEEDBACK_DIR=str(log_path.parent / "feedback"))
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "space/app.py", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = log_path.read_text()
        if "==>" in text:
            backend = re.search(r"\(backend (\S+)\)", text)
            return process, f"http://127.0.0.1:{port}/", backend.group(1) if backend else "unknown"
        if process.poll() is not None:
            raise SystemExit(f"space/app.py exited early:\n{text[-3000:]}")
        time.sleep(0.2)
    process.kill()
    raise SystemExit("space/app.py did not start within 300 s")


def run_load(url: str, photos: list[Path], clients: int, requests: int) -> dict:
    """``requests`` calls to ``/predict`` from ``clients`` threads; latencies in seconds, and errors."""
    from gradio_client import Client, handle_file

    sessions = [Client(url, verbose=False) for _ in range(clients)]
    for session in sessions:  # warm-up: one call each, not counted
        session.predict(handle_file(photos[0]), api_name="/predict")
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def user(session) -> None:
        while (index := next(counter)) < requests:
            started = time.perf_counter()
            try:
                result = session.predict(handle_file(photos[index % len(photos)]), api_name="/predict")
                assert result["label"] in {"clean", "messy"}, result
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=user, args=(session,)) for session in sessions]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for session in sessions:
        session.close()
    return {"wall": wall, "latencies": latencies, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.space_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=settings.model_id(),
                        help="model the app serves (default: $MODEL_ID or models/clean-or-messy)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=400, help="requests in total (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, nargs="+", default=[16, 1],
                        help="MAX_BATCH values to serve with, one run each (default: 16 1)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    photos = sorted(p for p in (Path(args.data) / "validation").rglob("*") if p.is_file())
    if not photos:
        raise SystemExit(f"no photos under {args.data}/validation")
    workdir = ROOT / "artifacts" / "space_load"
    workdir.mkdir(parents=True, exist_ok=True)
    rows, failed = [], False
    load_before = os.getloadavg()[0]
    for max_batch in args.max_batch:
        process, url, backend = start_app(args.model, max_batch, workdir / f"app-batch{max_batch}.log")
        try:
            result = run_load(url, photos, args.clients, args.requests)
        finally:
            process.terminate()
            process.wait(timeout=30)
        latencies = np.array(result["latencies"]) * 1e3
        served = len(latencies)
        row = (f"| {max_batch} | {backend} | {served} | {len(result['errors'])} | {served / result['wall']:.1f} | "
               f"{np.percentile(latencies, 50):.0f} | {np.percentile(latencies, 95):.0f} |")
        print(row, flush=True)
        for error in result["errors"][:5]:
            print("   error:", error)
        rows.append(row)
        failed |= bool(result["errors"])

    body = (
        f"{args.clients} concurrent `gradio_client` users, {args.requests} `/predict` uploads of the "
        f"{len(photos)} validation photos, against `space/app.py` serving `{args.model}` "
        f"(QUEUE_CONCURRENCY and API_CONCURRENCY at their defaults). Latency is per request as a user sees it: "
        "upload, queue, inference, reply. Clients and server share this machine's cores; the 1-minute load "
        f"average was {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the runs.\n\n"
        "| MAX_BATCH | backend | answered | errors | requests/s | p50 latency (ms) | p95 latency (ms) |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    print(body)
    if not args.no_write:
        write_section("space", "Space under load", f"python -m bench.space_load --model {args.model} "
                      f"--data {args.data} --clients {args.clients} --requests {args.requests}", body)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
