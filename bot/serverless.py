"""The bot as a serverless function: one webhook request in, ``(status, body)`` out.

    from bot.serverless import handle
    status, body = handle(request_headers, request_body)

``handle`` checks ``X-Telegram-Bot-Api-Secret-Token`` against ``TELEGRAM_WEBHOOK_SECRET``
(403 when missing or wrong, before anything is loaded), then runs that one update
through the same handlers as polling and webhook mode, to completion, and answers
200. The model, the ``Application`` and its HTTP connections are created on the
first request and kept at module level, so warm invocations pay only for the
update. They live on one event loop in a background thread, so hosts that call
``handle`` from several threads at once (Cloud Functions gen2, Cloud Run) are fine.

Adapters for common hosts: :func:`lambda_handler` (AWS Lambda function URL / API
Gateway) and :func:`gcf_handler` (Google Cloud Functions / functions-framework).
Settings are the environment variables of bot/README.md. Albums are answered photo
by photo here: each photo arrives in its own invocation.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hmac
import json
import logging
import threading
from typing import Mapping

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.config import BotConfig, ConfigError
from bot.logs import setup_logging
from cleanmessy import settings

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class _Runtime:
    """The warm state: an event loop thread, and an initialised ``Application`` with its predictor."""

    def __init__(self, config: BotConfig) -> None:
        from cleanmessy import settings
        from cleanmessy.predictor import Predictor

        self.timeout = settings.get("BOT_UPDATE_TIMEOUT")  # keep it under the platform's own limit
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="bot-serverless-loop", daemon=True).start()
        predictor = Predictor.load(config.model_id, threads=config.inference_threads, revision=config.model_revision)
        self.application: Application = build_application(config, predictor, set_commands=False)
        self.run(self.application.initialize())
        self.served = predictor.served.describe()
        self.feedback_sync = None
        if settings.feedback_repo():  # huggingface_hub is imported only then: cold starts stay short
            from cleanmessy.feedback_sync import start_feedback_sync

            self.feedback_sync = start_feedback_sync(config.feedback_dir)

    def run(self, coroutine):
        """Run ``coroutine`` on the runtime's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(self.timeout)


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _get_runtime() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            # One update per invocation: no album to wait for, and by default one classification at a time.
            config = BotConfig.from_env(
                album_wait=0.0, max_concurrent=None if settings.is_set("BOT_MAX_CONCURRENT") else 1
            )
            setup_logging(config.secrets, settings.log_level())
            _runtime = _Runtime(config)
            gc.freeze()  # the model lives as long as the instance: keep it out of garbage collections
            logger.info("serverless bot ready: model %s", _runtime.served)
        return _runtime


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def handle(headers: Mapping[str, str], body: bytes | str) -> tuple[int, str]:
    """Process one Telegram webhook request completely; return the HTTP status and body to answer with."""
    secret = settings.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is not set: the serverless handler refuses unauthenticated updates")
    given = _header(headers, SECRET_HEADER)
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        return 403, "forbidden"
    runtime = _get_runtime()
    try:
        update = Update.de_json(json.loads(body), runtime.application.bot)
    except (ValueError, TypeError, KeyError, AttributeError):
        return 400, "not a Telegram update"
    runtime.run(runtime.application.process_update(update))
    return 200, "ok"


def lambda_handler(event: dict, context: object = None) -> dict:
    """AWS Lambda entry point (function URL or API Gateway HTTP API event)."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    status, text = handle(event.get("headers") or {}, body)
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": text}


def gcf_handler(request) -> tuple[str, int]:
    """Google Cloud Functions / functions-framework entry point (a Flask request)."""
    status, text = handle(request.headers, request.get_data())
    return text, status


def shutdown() -> None:
    """Close the warm ``Application`` and its loop (for tests, or a host's shutdown hook); the next request starts afresh."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            return
        runtime, _runtime = _runtime, None
    runtime.run(runtime.application.shutdown())
    if runtime.feedback_sync:
        runtime.feedback_sync.close()
    runtime.loop.call_soon_threadsafe(runtime.loop.stop)
