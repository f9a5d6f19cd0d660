"""The in-browser page (web/, transformers.js) in headless Chromium on this machine, beside the Space's /predict.

    python -m bench.web_page --model models/clean-or-messy --data ../shared/data/rooms

For each configuration the Gradio app is started in this process with the page at /web/, and a
fresh Chromium (the project's loopback-only flags, an empty profile) opens it:

- cold: navigation -> the first verdict (model download from 127.0.0.1, WASM compile, first run);
- warm: per photo, the page's own timing (``#result[data-ms]``: decode, checks, resize, inference)
  over every validation photo, ``--rounds`` times;
- configurations: WASM SIMD with threads (COOP/COEP headers, 2 threads) and without (no isolation
  headers, 1 thread);
- the same photos through the Space's ``/predict`` (gradio_client, upload + queue + inference + reply).

Results go to the ``web`` section of BENCHMARKS.md. The browser, the server and the bench share the
machine's cores, as they would not on a phone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from bench.report import write_section
from cleanmessy import settings
from scraper.browser import start_browser

GOAL_MS = 150


@contextlib.contextmanager
def serving(model: str, *, isolated: bool) -> Iterator[str]:
    """The real Gradio app with the page mounted; yields its URL."""
    from cleanmessy import Predictor
    from space.app import build_demo, launch
    from space.config import SpaceConfig
    from space.service import SpaceService
    from space.web_route import web_routes

    config = SpaceConfig(port=_free_port())
    predictor = Predictor.load(model)
    service = SpaceService(predictor, max_batch=config.max_batch, feedback_dir=tempfile.mkdtemp(prefix="bench-web-"))
    demo = build_demo(service, config, [], web_page=True)
    _, url = launch(demo, config, service, block=False,
                    routes=web_routes(model, predictor.unsure_below, isolated=isolated))
    try:
        yield url.rstrip("/")
    finally:
        demo.close()
        service.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(driver, script: str, timeout: float = 300):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.01).until(lambda d: d.execute_script(script))


def page_classify(driver, photo: Path) -> tuple[float, float]:
    """Give one photo to input#photo; return the page's own milliseconds for it, in all and in the model."""
    from selenium.webdriver.common.by import By

    driver.execute_script("const r = document.getElementById('result'); delete r.dataset.json; delete r.dataset.ms;")
    driver.find_element(By.CSS_SELECTOR, "input#photo[type=file]").send_keys(str(Path(photo).resolve()))
    total, model = _wait(driver, "const r = document.getElementById('result');"
                                 "return r.dataset.json && r.dataset.ms ? [r.dataset.ms, r.dataset.inferenceMs] : null;", 120)
    return float(total), float(model)


def browser_run(url: str, photos: list[Path], rounds: int, query: str = "") -> dict:
    """Cold start, then warm per-photo times, in a fresh browser."""
    with start_browser() as driver:  # the project's loopback-only flags, a fresh empty profile
        started = time.perf_counter()
        driver.get(f"{url}/web/{query}")
        _wait(driver, "return document.body && document.body.dataset.ready === 'true'")
        ready = time.perf_counter() - started
        page_classify(driver, photos[0])
        cold = time.perf_counter() - started
        isolated = driver.execute_script("return self.crossOriginIsolated")
        threads = int(driver.execute_script("return document.body.dataset.threads"))
        warm = [page_classify(driver, photo) for _ in range(rounds) for photo in photos]
    return {"ready_s": ready, "cold_s": cold, "isolated": isolated, "threads": threads,
            "warm_ms": [total for total, _ in warm], "model_ms": [model for _, model in warm]}


def predict_run(url: str, photos: list[Path], rounds: int) -> list[float]:
    """Sequential ``/predict`` round trips through gradio_client, in milliseconds."""
    from gradio_client import Client, handle_file

    client = Client(url + "/", verbose=False)
    client.predict(handle_file(str(photos[0])), api_name="/predict")  # warm-up
    times = []
    for _ in range(rounds):
        for photo in photos:
            started = time.perf_counter()
            client.predict(handle_file(str(photo)), api_name="/predict")
            times.append((time.perf_counter() - started) * 1000)
    return times


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/clean-or-messy", help="model directory with onnx/model_quantized.onnx")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/*")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the validation photos (default: %(default)s)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write BENCHMARKS.md")
    args = parser.parse_args(argv)
    settings.export("HF_HUB_OFFLINE", "1", overwrite=False)
    photos = sorted(p for p in (Path(args.data) / "validation").rglob("*") if p.is_file())
    if not photos:
        raise SystemExit(f"no photos under {args.data}/validation")

    rows = []
    with serving(args.model, isolated=True) as url:
        threaded = browser_run(url, photos, args.rounds)
        predict = predict_run(url, photos, args.rounds)
    with serving(args.model, isolated=False) as url:
        single = browser_run(url, photos, args.rounds)
    for name, run in (("WASM SIMD + threads (COOP/COEP)", threaded), ("WASM SIMD, no threads (no isolation headers)", single)):
        p50, p95 = percentiles(run["warm_ms"])
        model50 = percentiles(run["model_ms"])[0]
        rows.append(f"| in the browser: {name} | {run['threads']} | {run['isolated']} | {run['ready_s']:.2f} s | "
                    f"{run['cold_s']:.2f} s | {p50:.0f} ms | {p95:.0f} ms | {model50:.0f} ms |")
        print(rows[-1], flush=True)
    p50, p95 = percentiles(predict)
    rows.append(f"| the Space's `/predict` round trip (gradio_client) | server | – | – | – | {p50:.0f} ms | {p95:.0f} ms | – |")
    print(rows[-1], flush=True)
    best = min(percentiles(threaded["warm_ms"])[0], percentiles(single["warm_ms"])[0])
    body = (
        f"{len(photos)} validation photos × {args.rounds} rounds, model `{args.model}` (int8 ONNX), headless Debian "
        f"Chromium with the project's loopback-only flags, a fresh profile per row. *Ready*: navigation to model "
        "loaded; *cold*: navigation to the first verdict (model download from 127.0.0.1 + WASM compile + first run); "
        "*warm*: the page's own time per photo (decode, checks, Pillow-exact resize, inference); *model*: the "
        "ONNX run alone (p50). Load average at "
        f"the end: {os.getloadavg()[0]:.1f} (other jobs share the 2 cores).\n\n"
        "| where | threads | cross-origin isolated | ready | cold: first verdict | warm p50 | warm p95 | model p50 |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        f"Goal: warm per photo ≤ {GOAL_MS} ms in the browser: **{'met' if best <= GOAL_MS else 'not met'}** "
        f"(best p50 {best:.0f} ms). Browser p50 / `/predict` p50 = {best / p50:.2f}."
    )
    if not args.no_record:
        write_section("web", "In-browser page (transformers.js): cold start, warm latency, vs /predict",
                      f"python -m bench.web_page --model {args.model} --data {args.data} --rounds {args.rounds}", body)
    print(body)


if __name__ == "__main__":
    main()
