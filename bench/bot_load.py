"""Benchmark: the Telegram bot under load, and the serverless handler's cold start, against the loopback Bot API fake.

Run from the repository root::

    python -m bench.bot_load [--model models/clean-or-messy] [--updates 200] [--cold-starts 3] [--record]

1. Burst: ``python -m bot --mode polling`` runs in its own process; ``--updates`` photo
   updates (one per chat) are queued at the fake at once. Every reply must quote its photo
   and carry exactly the verdict text the predictor gives for that photo. Reports updates/s
   and time-to-reply (from the moment all were queued: it includes the wait in the queue).
2. Paced: the same bot gets ``--paced`` photos at half the burst throughput, so time-to-reply
   shows the latency a user sees when the bot is not saturated.
3. Cold start: a new process imports ``bot.serverless`` and hands one photo update to
   ``handle()`` (what a cloud function does on its first request); measured from process
   start until the fake receives the reply. Then one warm invocation in the same process.

Photos are the real dataset (``../shared/data/rooms``) when present, else generated rooms.
``--record`` writes the numbers into BENCHMARKS.md (section ``bot``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from bench.report import write_section
from bot import texts
from cleanmessy import settings
from tests.fakes.telegram import FakeTelegram, encode_image
from tests.helpers import make_room_image

SHARED_ROOMS = ROOT.parent / "shared" / "data" / "rooms"
SECRET = "bench-secret"
COLD_START_TARGET = 3.0
SERVERLESS_CHILD = """
import sys, time
from bot.serverless import handle
from cleanmessy import settings
headers = {"X-Telegram-Bot-Api-Secret-Token": settings.get("TELEGRAM_WEBHOOK_SECRET")}
for line in sys.stdin:
    print(time.monotonic(), flush=True)
    assert handle(headers, line)[0] == 200
"""


def photos(count: int) -> tuple[list[bytes], str]:
    """``count`` JPEG photos (real ones cycled when the dataset is here) and where they came from."""
    files = sorted(SHARED_ROOMS.glob("*/*/*")) if SHARED_ROOMS.is_dir() else []
    if files:
        return [files[i % len(files)].read_bytes() for i in range(count)], f"{len(files)} real photos from {SHARED_ROOMS}"
    generated = [encode_image(make_room_image(messy=i % 2 == 1, size=(640, 480), seed=i)) for i in range(count)]
    return generated, "generated 640x480 rooms (no dataset found)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def bot_env(fake: FakeTelegram, model: str, feedback: str, extra: dict[str, str]) -> dict[str, str]:
    return settings.child_environment(
        PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1",
        TELEGRAM_TOKEN=fake.token, TELEGRAM_API_URL=fake.url, TELEGRAM_WEBHOOK_SECRET=SECRET,
        MODEL_ID=model, FEEDBACK_DIR=feedback, LOG_LEVEL="WARNING", **extra,
    )


def expected_replies(model: str, payloads: list[bytes]) -> list[str]:
    """The verdict text the bot must send for each photo, from the predictor run directly."""
    from cleanmessy.predictor import Predictor

    predictor = Predictor.load(model)
    return [texts.verdict_text([predictor.predict(data)], predictor.unsure_below) for data in payloads]


def check_replies(fake: FakeTelegram, messages: list[dict], expected: list[str]) -> int:
    """Number of photos whose chat got exactly one reply, quoting the photo, with the expected text."""
    good = 0
    for message, text in zip(messages, expected):
        sent = fake.sent("sendMessage", message["chat"]["id"])
        if len(sent) == 1 and sent[0]["text"] == text and sent[0]["reply_parameters"]["message_id"] == message["message_id"]:
            good += 1
    return good


def reply_times(fake: FakeTelegram, messages: list[dict], queued: list[float]) -> list[float]:
    arrival = {call.params["chat_id"]: call.time for call in fake.calls if call.method == "sendMessage"}
    return [arrival[m["chat"]["id"]] - t for m, t in zip(messages, queued)]


def run_load(model: str, payloads: list[bytes], paced: int, extra_env: dict[str, str]) -> dict:
    """Burst then paced photos at one polling bot process; returns the measurements."""
    with FakeTelegram() as fake, tempfile.TemporaryDirectory() as feedback:
        bot = subprocess.Popen([sys.executable, "-m", "bot", "--mode", "polling"], cwd=ROOT,
                               env=bot_env(fake, model, feedback, extra_env))
        try:
            fake.wait_for(lambda f: any(c.method == "getUpdates" for c in f.calls), 180)
            burst = [fake.photo_message(data, chat_id=10_000 + i) for i, data in enumerate(payloads)]
            cpu_before = cpu_seconds(bot.pid)
            started = time.monotonic()
            fake.push(*(fake.update(message=m) for m in burst))
            fake.wait_for(lambda f: len(f.sent("sendMessage")) >= len(burst), 600)
            cpu_per_photo = (cpu_seconds(bot.pid) - cpu_before) / len(burst)
            burst_latency = reply_times(fake, burst, [started] * len(burst))
            burst_seconds = max(burst_latency)
            throughput = len(burst) / burst_seconds

            interval = 2 / throughput  # half the measured capacity
            steady, queued = [], []
            for i in range(paced):
                message = fake.photo_message(payloads[i % len(payloads)], chat_id=20_000 + i)
                steady.append(message)
                queued.append(time.monotonic())
                fake.push(fake.update(message=message))
                time.sleep(interval)
            fake.wait_for(lambda f: len(f.sent("sendMessage")) >= len(burst) + paced, 300)
            steady_latency = reply_times(fake, steady, queued)
        finally:
            bot.send_signal(signal.SIGINT)
            bot.wait(30)
        expected = expected_replies(model, payloads)
        correct = check_replies(fake, burst, expected)
        correct_paced = check_replies(fake, steady, [expected[i % len(expected)] for i in range(paced)])
    return {
        "updates": len(burst), "correct": correct, "seconds": burst_seconds, "throughput": throughput,
        "cpu_per_photo": cpu_per_photo,
        "p50": statistics.median(burst_latency), "p95": percentile(burst_latency, 95),
        "paced": paced, "paced_correct": correct_paced, "paced_rate": 1 / interval,
        "paced_p50": statistics.median(steady_latency), "paced_p95": percentile(steady_latency, 95),
    }


def cold_start(model: str, photo: bytes, extra_env: dict[str, str], warm_calls: int = 5) -> tuple[float, float, float]:
    """Serverless handler, in seconds: new process -> first reply (wall, and CPU the process used), median warm invocation."""
    with FakeTelegram() as fake, tempfile.TemporaryDirectory() as feedback:
        updates = [fake.update(message=fake.photo_message(photo, chat_id=chat)) for chat in range(1, warm_calls + 2)]
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-c", SERVERLESS_CHILD], cwd=ROOT, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 env=bot_env(fake, model, feedback, extra_env))
        latencies = []
        for chat, update in enumerate(updates, start=1):
            child.stdin.write(json.dumps(update) + "\n")
            child.stdin.flush()
            handed = started if chat == 1 else float(child.stdout.readline())  # CLOCK_MONOTONIC is system-wide
            if chat == 1:
                child.stdout.readline()
            fake.wait_for(lambda f: f.sent("sendMessage", chat), 180)
            if chat == 1:
                cold_cpu = cpu_seconds(child.pid)
            sent = next(c.time for c in fake.calls if c.method == "sendMessage" and c.params["chat_id"] == chat)
            latencies.append(sent - handed)
        child.stdin.close()
        child.wait(30)
    return latencies[0], cold_cpu, statistics.median(latencies[1:])


def report(model: str, source: str, load: dict, colds: list[tuple[float, float, float]], env: dict[str, str],
           loadavg: tuple[float, float]) -> str:
    cold_values = [cold for cold, _, _ in colds]
    cores = os.cpu_count() or 1
    settings = ", ".join(f"{k}={v}" for k, v in env.items()) or "defaults"
    lines = [
        f"Model `{model}`; photos: {source}; bot settings: {settings}. "
        "One process runs `python -m bot --mode polling`; the fake Bot API runs in the benchmark process. "
        f"System load average (1 min) {loadavg[0]:.1f} at the start, {loadavg[1]:.1f} at the end, "
        f"on {os.cpu_count()} cores: other work on the machine slows every number here.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| burst: {load['updates']} photo updates queued at once, answered correctly | "
        f"{load['correct']}/{load['updates']} |",
        f"| burst: throughput | {load['throughput']:.1f} updates/s ({load['seconds']:.1f} s for all) |",
        f"| burst: CPU time of the bot process per photo (capacity if the {cores} cores were the bot's alone) | "
        f"{load['cpu_per_photo'] * 1000:.0f} ms ({cores / load['cpu_per_photo']:.1f} updates/s) |",
        f"| burst: time-to-reply p50 / p95 (includes queueing behind the burst) | "
        f"{load['p50']:.2f} s / {load['p95']:.2f} s |",
        f"| paced: {load['paced']} photos at {load['paced_rate']:.1f}/s (half capacity), answered correctly | "
        f"{load['paced_correct']}/{load['paced']} |",
        f"| paced: time-to-reply p50 / p95 | {load['paced_p50'] * 1000:.0f} ms / {load['paced_p95'] * 1000:.0f} ms |",
        f"| serverless cold start, new process → first reply sent (median of {len(colds)}; target ≤ {COLD_START_TARGET:g} s) | "
        f"{statistics.median(cold_values):.2f} s (runs: {', '.join(f'{c:.2f}' for c in cold_values)}) |",
        f"| serverless cold start: CPU time the new process used until the reply (≈ wall time when it has the cores to itself) | "
        f"{statistics.median(c for _, c, _ in colds):.2f} s |",
        f"| serverless warm invocation → reply sent (median of 5 per process, median over processes) | "
        f"{statistics.median(w for _, _, w in colds) * 1000:.0f} ms |",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark, print the table, optionally record it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=settings.model_id(),
                        help="model directory or Hub id (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=200, help="photo updates in the burst (default: %(default)s)")
    parser.add_argument("--paced", type=int, default=40, help="photo updates at half capacity (default: %(default)s)")
    parser.add_argument("--cold-starts", type=int, default=3, help="serverless cold starts to time (default: %(default)s)")
    parser.add_argument("--max-concurrent", help="BOT_MAX_CONCURRENT for the bot (default: the bot's default)")
    parser.add_argument("--threads", help="TORCH_THREADS for the bot (default: cores / BOT_MAX_CONCURRENT); "
                        "1 is kinder to a machine shared with other work")
    parser.add_argument("--record", action="store_true", help="write the result into BENCHMARKS.md (section bot)")
    args = parser.parse_args()
    if not Path(args.model).is_dir() and "/" not in args.model:
        print(f"error: no model at {args.model}: train one (make train) or pass --model", file=sys.stderr)
        return 2
    env = {key: value for key, value in (("BOT_MAX_CONCURRENT", args.max_concurrent), ("TORCH_THREADS", args.threads)) if value}
    payloads, source = photos(args.updates)
    load_before = os.getloadavg()[0]
    load = run_load(args.model, payloads, args.paced, env)
    colds = [cold_start(args.model, payloads[0], env) for _ in range(args.cold_starts)]
    body = report(args.model, source, load, colds, env, (load_before, os.getloadavg()[0]))
    print(body)
    if args.record:
        command = "python -m bench.bot_load " + " ".join(sys.argv[1:])
        write_section("bot", "Telegram bot: load and serverless cold start", command.strip(), body)
    return 0 if load["correct"] == load["updates"] and load["paced_correct"] == load["paced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
