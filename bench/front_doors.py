"""The Space's front doors under load against the tutorial way: 16 concurrent httpx clients each.

    python -m bench.front_doors --model models/clean-or-messy --data ../shared/data/rooms

Three doors, one after another, each served alone on 127.0.0.1:
- the Space's Gradio ``/predict`` (``space/app.py``): upload, ``POST /gradio_api/call/predict``, read the event stream;
- the Space's REST ``POST /api/classify`` (same process): one multipart request;
- the tutorial app (``bench/tutorial_app.py``: ``gr.Interface`` around ``pipeline("image-classification")`` on the
  same model), its ``/predict`` called exactly like the Space's.
The same asyncio ``httpx`` client drives all three (light, so the load generator takes little CPU from the
server): ``--clients`` workers share ``--requests`` calls on the validation photos after one untimed call
each. Reports requests/s, p50/p95 latency and errors (which must be zero), and the server process's CPU time
per request (user + system, all its threads, from ``/proc/PID/stat``): on a shared machine requests/s
depends on how much CPU the other jobs leave, CPU per request much less so. Results go to the
``front_doors`` section of BENCHMARKS.md. ``REST_RATE_LIMIT`` is turned off for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from bench.report import write_section
from bench.space_load import ROOT, start_app
from cleanmessy import settings
from tests.helpers import free_port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process ``pid`` (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def gradio_call(client: httpx.AsyncClient, url: str, name: str, data: bytes) -> dict:
    """Gradio's two-step API as a program speaks it: upload, start the call, read the result event."""
    upload = await client.post(f"{url}gradio_api/upload", files={"files": (name, data, "image/jpeg")})
    upload.raise_for_status()
    file = {"path": upload.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    started = await client.post(f"{url}gradio_api/call/predict", json={"data": [file]})
    started.raise_for_status()
    result = await client.get(f"{url}gradio_api/call/predict/{started.json()['event_id']}")
    result.raise_for_status()
    lines = result.text.strip().splitlines()
    if not lines or lines[0] != "event: complete":
        raise RuntimeError(result.text[:300])
    return json.loads(lines[-1].removeprefix("data: "))[0]


async def rest_call(client: httpx.AsyncClient, url: str, name: str, data: bytes) -> dict:
    response = await client.post(f"{url}api/classify", files={"file": (name, data, "image/jpeg")})
    response.raise_for_status()
    return response.json()


async def load(call, url: str, photos: list[tuple[str, bytes]], clients: int, requests: int, pid: int) -> dict:
    """``requests`` calls from ``clients`` concurrent workers; latencies (s), errors, wall time, server CPU (s)."""
    latencies: list[float] = []
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=clients * 2)) as client:
        await asyncio.gather(*(call(client, url, *photos[i % len(photos)]) for i in range(clients)))  # warm-up
        next_index = iter(range(requests))

        async def worker() -> None:
            for index in next_index:
                began = time.perf_counter()
                try:
                    result = await call(client, url, *photos[index % len(photos)])
                    assert result["label"] in {"clean", "messy"}, result
                except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                    errors.append(f"{type(error).__name__}: {error}")
                    continue
                latencies.append(time.perf_counter() - began)

        began, cpu = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
    return {"wall": wall, "latencies": latencies, "errors": errors, "cpu": cpu}


def start_tutorial(model: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = settings.child_environment(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    process = subprocess.Popen([sys.executable, "bench/tutorial_app.py", model, str(port)], cwd=ROOT, env=env,
                               stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while "==>" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"bench/tutorial_app.py did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return process, f"http://127.0.0.1:{port}/"


def row(door: str, result: dict) -> tuple[str, float, float]:
    latencies = np.array(result["latencies"]) * 1e3
    rate = len(latencies) / result["wall"]
    cpu_ms = result["cpu"] / max(1, len(latencies)) * 1e3
    return (f"| {door} | {len(latencies)} | {len(result['errors'])} | {rate:.1f} | "
            f"{np.percentile(latencies, 50):.0f} | {np.percentile(latencies, 95):.0f} | {cpu_ms:.0f} |"), rate, cpu_ms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.front_doors", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=settings.model_id(), help="model to serve (default: $MODEL_ID or %(default)s)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=320, help="timed requests per door (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    photos = [(p.name, p.read_bytes()) for p in sorted((Path(args.data) / "validation").rglob("*")) if p.is_file()]
    if not photos:
        raise SystemExit(f"no photos under {args.data}/validation")
    workdir = ROOT / "artifacts" / "front_doors"
    workdir.mkdir(parents=True, exist_ok=True)
    settings.export("REST_RATE_LIMIT", "0/60")  # the load generator is one client (start_app passes it on)
    rows, rates, cpus, failed, loads = [], {}, {}, False, []

    def measure(door: str, call, url: str, pid: int) -> None:
        nonlocal failed
        loads.append(os.getloadavg()[0])
        result = asyncio.run(load(call, url, photos, args.clients, args.requests, pid))
        text, rates[door], cpus[door] = row(door, result)
        print(text, flush=True)
        for error in result["errors"][:5]:
            print("   error:", error)
        rows.append(text)
        failed |= bool(result["errors"])

    process, url, backend = start_app(args.model, 16, workdir / "space.log")
    try:
        measure(f"Space `/predict` ({backend}, micro-batched)", gradio_call, url, process.pid)
        measure(f"Space `POST /api/classify` ({backend}, micro-batched)", rest_call, url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
    process, url = start_tutorial(args.model, workdir / "tutorial.log")
    try:
        measure("tutorial `gr.Interface` + `pipeline()` `/predict` (eager PyTorch)", gradio_call, url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)

    tutorial_door = next(door for door in rates if door.startswith("tutorial"))
    tutorial, tutorial_cpu = rates[tutorial_door], cpus[tutorial_door]
    predict, rest = (rates[door] for door in rates if door.startswith("Space"))
    predict_cpu, rest_cpu = (cpus[door] for door in cpus if door.startswith("Space"))
    body = (
        f"{args.clients} concurrent clients (one asyncio `httpx` client, the same for all three doors), "
        f"{args.requests} timed requests per door on the {len(photos)} validation photos, after one untimed call "
        f"per client; each door served alone by its own process on 127.0.0.1, model `{args.model}`. Gradio "
        "calls are what a program without `gradio_client` must do: upload, start the call, read the result "
        "event; REST is one multipart POST. Latency is per request as the client sees it. 1-minute load average "
        f"at the start of each run: {', '.join(f'{value:.1f}' for value in loads)} (this 2-core machine is "
        "shared with other jobs, so absolute numbers are noisy; the three runs are back to back).\n\n"
        "| door | answered | errors | requests/s | p50 latency (ms) | p95 latency (ms) | server CPU per request (ms) |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
        f"\n\nAgainst the tutorial app, requests/s: `/predict` {predict / tutorial:.1f}× (goal ≥ 3×), "
        f"REST {rest / tutorial:.1f}× (goal ≥ 5×); server CPU per request: `/predict` "
        f"{tutorial_cpu / predict_cpu:.1f}× less, REST {tutorial_cpu / rest_cpu:.1f}× less."
    )
    print(body)
    if not args.no_write:
        write_section("front_doors", "Front doors: Space /predict and REST vs the tutorial app",
                      f"python -m bench.front_doors --model {args.model} --data {args.data} "
                      f"--clients {args.clients} --requests {args.requests}", body)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
