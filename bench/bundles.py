"""The serverless bundles of ``python -m bot.package``: size, cold start and warm invocations, run from the bundle.

    python -m bench.bundles --model models/clean-or-messy --data ../shared/data/rooms

- Size: the real Lambda bundle (dependencies for manylinux x86_64, Python 3.12), unzipped and zipped,
  and the GCF bundle (code and model; Cloud Functions installs requirements.txt itself).
- Lambda: the bundle rebuilt with dependencies for this interpreter's Python, unzipped, and loaded by a
  new ``python -I -S`` process that sees only the bundle (plus the standard library). Cold start: process
  spawn until the fake Bot API has received the reply to the first photo update. Warm: ``lambda_handler``
  on ``--warm`` more photo updates in that process, each timed until it returns (the reply is sent by then).
- GCF: the bundle served by the real ``functions-framework`` (``python -I -S``: the bundle, then the
  virtual environment's site-packages, no ``.pth`` files). Cold start: spawn until the first photo's
  reply reached the fake Bot API (the first POST is retried until the port opens); warm: ``--warm`` more POSTs.
Replies go to the loopback fake Bot API of the tests (``tests/fakes/telegram.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np

from bench.report import write_section
from bot import package
from cleanmessy import settings
from tests.fakes.telegram import FakeTelegram
from tests.helpers import free_port

SECRET = "bench-secret"
HEADER = "X-Telegram-Bot-Api-Secret-Token"

LAMBDA_DRIVER = """
import json, sys, time
bundle, events = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, bundle)
import lambda_function
first = lambda_function.lambda_handler(events[0], None)
print("first", first["statusCode"], flush=True)
warm = []
for event in events[1:]:
    began = time.perf_counter()
    assert lambda_function.lambda_handler(event, None)["statusCode"] == 200
    warm.append(time.perf_counter() - began)
print(json.dumps({"warm": warm, "heavy": [m for m in ("torch", "transformers") if m in sys.modules]}), flush=True)
"""


GCF_DRIVER = """
import sys
bundle, site_packages, *arguments = sys.argv[1:]
sys.path[:0] = [bundle, site_packages]
sys.argv = ["functions-framework", *arguments]
from functions_framework._cli import _cli
_cli()
"""


def environment(fake: FakeTelegram, workdir: Path) -> dict[str, str]:
    return settings.child_environment(
        TELEGRAM_TOKEN=fake.token, TELEGRAM_API_URL=fake.url, TELEGRAM_WEBHOOK_SECRET=SECRET,
        FEEDBACK_DIR=str(workdir / "feedback"), BOT_RATE_LIMIT="0/60", LOG_LEVEL="WARNING")


def wait_replies(fake: FakeTelegram, count: int, timeout: float = 120) -> None:
    fake.wait_for(lambda f: len(f.texts(42)) >= count, timeout=timeout)


def lambda_run(bundle: Path, fake: FakeTelegram, photos: list[bytes], warm: int, workdir: Path) -> dict:
    def event(data: bytes) -> dict:
        update = fake.update(message=fake.photo_message(data))
        return {"version": "2.0", "headers": {HEADER.lower(): SECRET, "content-type": "application/json"},
                "isBase64Encoded": False, "body": json.dumps(update)}

    events = [event(photos[i % len(photos)]) for i in range(warm + 1)]
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAMBDA_DRIVER, str(bundle), json.dumps(events)],
                               cwd=workdir, env=environment(fake, workdir), stdout=subprocess.PIPE, text=True)
    wait_replies(fake, 1)
    cold = time.perf_counter() - began
    output, _ = process.communicate(timeout=600)
    if process.returncode:
        raise SystemExit(f"the Lambda bundle failed:\n{output[-3000:]}")
    report = json.loads(output.strip().splitlines()[-1])
    if report["heavy"]:
        raise SystemExit(f"the Lambda bundle imported {report['heavy']}")
    return {"cold": cold, "warm": report["warm"]}


def gcf_run(bundle: Path, fake: FakeTelegram, photos: list[bytes], warm: int, workdir: Path) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", GCF_DRIVER, str(bundle), sysconfig.get_paths()["purelib"],
                                "--target", "telegram_webhook", "--source", "main.py", "--host", "127.0.0.1",
                                "--port", str(port)], cwd=bundle, env=environment(fake, workdir),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = fake.update(message=fake.photo_message(photos[0]))
        while True:
            try:
                httpx.post(url, json=first, headers={HEADER: SECRET}, timeout=120).raise_for_status()
                break
            except httpx.TransportError:
                time.sleep(0.02)
        wait_replies(fake, 1)
        cold = time.perf_counter() - began
        times = []
        with httpx.Client(timeout=120) as client:
            for i in range(warm):
                update = fake.update(message=fake.photo_message(photos[(i + 1) % len(photos)]))
                started = time.perf_counter()
                client.post(url, json=update, headers={HEADER: SECRET}).raise_for_status()
                times.append(time.perf_counter() - started)
        return {"cold": cold, "warm": times}
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bundles", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=settings.model_id(), help="model to bundle (default: $MODEL_ID or %(default)s)")
    parser.add_argument("--data", default="../shared/data/rooms", help="image folder with validation/<label>/")
    parser.add_argument("--warm", type=int, default=20, help="warm invocations after the first (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    photos = [p.read_bytes() for p in sorted((Path(args.data) / "validation").rglob("*")) if p.is_file()]
    if not photos:
        raise SystemExit(f"no photos under {args.data}/validation")
    workdir = Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    loads = [os.getloadavg()[0]]
    real_lambda = package.build("lambda", args.model, workdir / "lambda-py312")
    gcf = package.build("gcf", args.model, workdir / "gcf")
    local_python = f"{sys.version_info.major}.{sys.version_info.minor}"
    local_lambda = package.build("lambda", args.model, workdir / "lambda-local", python_version=local_python)
    unpacked = workdir / "lambda-unpacked"
    with zipfile.ZipFile(local_lambda.archive) as archive:
        archive.extractall(unpacked)

    results = {}
    for name, run, folder in (("Lambda", lambda_run, unpacked), ("GCF", gcf_run, gcf.folder)):
        loads.append(os.getloadavg()[0])
        with FakeTelegram() as fake:
            results[name] = run(folder, fake, photos, args.warm, workdir)
        warm = np.array(results[name]["warm"]) * 1e3
        print(f"{name}: cold {results[name]['cold']:.2f} s, warm p50 {np.percentile(warm, 50):.0f} ms", flush=True)

    def mb(size: int) -> str:
        return f"{size / package.MB:.1f} MB"

    rows = []
    for name, result in results.items():
        warm = np.array(result["warm"]) * 1e3
        rows.append(f"| {name} | {result['cold']:.2f} | {np.percentile(warm, 50):.0f} | "
                    f"{np.percentile(warm, 95):.0f} | {len(warm)} |")
    body = (
        "Bundles built by `python -m bot.package` from the model's int8 ONNX file.\n\n"
        "| bundle | unzipped | zipped | platform limit |\n|---|---|---|---|\n"
        f"| Lambda (deps for manylinux x86_64, Python 3.12) | {mb(real_lambda.unzipped)} | {mb(real_lambda.zipped)} | "
        f"250 MB unzipped; zip over 50 MB goes through S3 |\n"
        f"| GCF (code + model; the platform installs requirements.txt) | {mb(gcf.unzipped)} | {mb(gcf.zipped)} | "
        "100 MB compressed source, 500 MB with modules |\n\n"
        "Run from the bundle against the loopback fake Bot API, one photo update per invocation. Cold start: a new "
        "process until the first reply reached the Bot API (Lambda: `python -I -S` that sees only the unpacked zip, "
        f"its dependencies installed for this Python {local_python} instead of 3.12; GCF: `functions-framework` "
        "serving the bundle folder, in `python -I -S` with the bundle first on `sys.path`). Warm: the next invocations in the same process, each until it returned "
        "(reply sent). torch and transformers were never imported. 1-minute load average before the builds, "
        f"the Lambda run and the GCF run: {', '.join(f'{value:.1f}' for value in loads)}.\n\n"
        "| bundle | cold start (s) | warm p50 (ms) | warm p95 (ms) | warm invocations |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )
    print(body)
    if not args.no_write:
        write_section("bundles", "Serverless bundles: size, cold start, warm invocation",
                      f"python -m bench.bundles --model {args.model} --data {args.data} --warm {args.warm}", body)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
