"""The bot's three ways of running: ``python -m bot`` polling and webhook (real processes, real signals) and the serverless handler."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bot import texts
from tests.fakes.telegram import FakeTelegram, encode_image
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-for-tests_only"
SHUTDOWN_BOUND = 2.0  # seconds from SIGINT/SIGTERM to exit; a behaviour bound, measured generously


def bot_env(fake: FakeTelegram, model_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MODEL_ID": str(model_dir),
        "FEEDBACK_DIR": str(tmp_path / "feedback"),
        "LOG_LEVEL": "DEBUG",
        "TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
    }


def start_bot(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "bot.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, env=env,
        stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    return process, log


def stop_bot(process: subprocess.Popen, signum: int) -> float:
    """Send ``signum`` and return the seconds until the process has exited cleanly."""
    started = time.monotonic()
    process.send_signal(signum)
    process.wait(timeout=30)
    return time.monotonic() - started


def post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_polling_answers_and_shuts_down_cleanly_on_sigint(fake, tiny_model_dir, tmp_path):
    process, log = start_bot(["--mode", "polling"], bot_env(fake, tiny_model_dir, tmp_path), tmp_path)
    try:
        fake.wait_for(lambda f: f.sent("setMyCommands") and any(c.method == "getUpdates" for c in f.calls), 90)
        fake.push(fake.update(message=fake.text_message("/start")))
        assert fake.wait_texts(42) == [texts.START]
        fake.wait_for(lambda f: sum(c.method == "getUpdates" for c in f.calls) >= 2)  # a long poll is pending
        seconds = stop_bot(process, signal.SIGINT)
        print(f"shutdown took {seconds:.2f} s")
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == 0, output
    assert seconds < SHUTDOWN_BOUND, f"shutdown took {seconds:.2f} s"
    assert "Application.stop() complete" in output  # the DEBUG log was on...
    assert fake.token not in output and fake.token.split(":")[1] not in output  # ...and never showed the token


def test_webhook_checks_the_secret_then_processes(fake, tiny_model_dir, tmp_path):
    port = free_port()
    public_url = "https://bot.example.test/telegram/hook"
    process, log = start_bot(
        ["--mode", "webhook", "--listen", "127.0.0.1", "--port", str(port), "--url", public_url],
        bot_env(fake, tiny_model_dir, tmp_path), tmp_path,
    )
    local_url = f"http://127.0.0.1:{port}/telegram/hook"
    try:
        fake.wait_for(lambda f: f.webhook.get("url") == public_url, 90)
        assert fake.webhook["secret_token"] == SECRET
        deadline = time.monotonic() + 10
        while True:  # the server listens right after setWebhook
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "webhook server did not start"
                time.sleep(0.05)
        assert post(local_url, fake.update(message=fake.text_message("/start", chat_id=1)), None) == 403
        assert post(local_url, fake.update(message=fake.text_message("/start", chat_id=2)), "wrong") == 403
        assert post(local_url, fake.update(message=fake.text_message("/start", chat_id=3)), SECRET) == 200
        assert fake.wait_texts(3) == [texts.START]
        seconds = stop_bot(process, signal.SIGTERM)
        print(f"shutdown took {seconds:.2f} s")
    finally:
        process.kill()
    output = log.read_text()
    assert process.returncode == 0, output
    assert fake.texts(1) == [] and fake.texts(2) == []
    assert seconds < SHUTDOWN_BOUND, f"shutdown took {seconds:.2f} s"
    assert fake.token not in output and SECRET not in output


def test_webhook_mode_refuses_to_start_without_a_secret(fake, tiny_model_dir, tmp_path):
    env = bot_env(fake, tiny_model_dir, tmp_path)
    del env["TELEGRAM_WEBHOOK_SECRET"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--mode", "webhook", "--url", "https://bot.example.test/hook"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_WEBHOOK_SECRET" in result.stderr


def test_serverless_handles_one_update_per_call_and_stays_warm(fake, tiny_model_dir, tmp_path, room_image, monkeypatch):
    from bot import serverless
    from cleanmessy.predictor import Predictor

    for key, value in bot_env(fake, tiny_model_dir, tmp_path).items():
        monkeypatch.setenv(key, value)
    loads = []
    real_load = Predictor.load.__func__
    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, *a, **k: loads.append(a) or real_load(cls, *a, **k)))
    photo = encode_image(room_image(messy=True))
    headers = {"x-telegram-bot-api-secret-token": SECRET, "content-type": "application/json"}
    try:
        assert serverless.handle({}, "{}") == (403, "forbidden")
        assert serverless.handle({"X-Telegram-Bot-Api-Secret-Token": "nope"}, "{}") == (403, "forbidden")
        assert loads == []  # rejected before anything was loaded

        update = fake.update(message=fake.photo_message(photo))
        assert serverless.handle(headers, json.dumps(update)) == (200, "ok")
        (reply,) = fake.texts(42)  # already sent when handle() returned: processed to completion
        service = serverless._runtime.application.bot_data["service"]
        assert reply == texts.verdict_text([service.predictor.predict(photo)], service.unsure_below)

        event = {"headers": headers, "body": json.dumps(fake.update(message=fake.text_message("/start")))}
        assert serverless.lambda_handler(event)["statusCode"] == 200
        assert fake.texts(42)[-1] == texts.START
        assert len(loads) == 1  # the second invocation was warm
        assert serverless.handle(headers, "not json") == (400, "not a Telegram update")
    finally:
        serverless.shutdown()
