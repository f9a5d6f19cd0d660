"""The bot as a serverless function: one webhook request in, ``(status, body)`` out.

    from bot.serverless import handle
    status, body = handle(request_headers, request_body)

``handle`` checks ``X-Telegram-Bot-Api-Secret-Token`` against ``TELEGRAM_WEBHOOK_SECRET``
(403 when missing or wrong, before anything is loaded or decoded), caps the body at
``BOT_MAX_UPDATE_BYTES``, then runs that one update through the same handlers as
polling and webhook mode, to completion, and answers 200 (see :mod:`bot.updates` for
400 and for updates that fail: they are logged and answered 200, never retried). The
model, the ``Application`` and its HTTP connections are created on the first request
and kept at module level, so warm invocations pay only for the update. They live on one event loop in a background thread, so hosts that call
``handle`` from several threads at once (Cloud Functions gen2, Cloud Run) are fine.

Adapters for common hosts: :func:`lambda_handler` (AWS Lambda function URL / API
Gateway) and :func:`gcf_handler` (Google Cloud Functions / functions-framework).
Settings are the environment variables of bot/README.md. Albums are answered photo
by photo here: each photo arrives in its own invocation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gc
import logging
import threading
from typing import Mapping

from telegram.ext import Application

from bot import updates
from bot.app import build_application
from bot.config import BotConfig, ConfigError, max_update_bytes
from bot.logs import setup_logging
from cleanmessy import settings

logger = logging.getLogger(__name__)


class _Runtime:
    """The warm state: an event loop thread, and an initialised ``Application`` with its predictor."""

    def __init__(self, config: BotConfig) -> None:
        from cleanmessy.predictor import Predictor

        self.timeout = settings.get("BOT_UPDATE_TIMEOUT")  # keep it under the platform's own limit
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="bot-serverless-loop", daemon=True).start()
        try:
            predictor = Predictor.load(config.model_id, threads=config.inference_threads, revision=config.model_revision)
            self.application: Application = build_application(config, predictor, set_commands=False)
            self.run(self.application.initialize())  # getMe: InvalidToken when the token or the API URL is wrong
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise
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


def _refuse_startup(error: BaseException) -> tuple[int, str]:
    """Log why the bot could not start (redacted) and answer 500, so Telegram retries once it is fixed."""
    from telegram.error import InvalidToken

    if isinstance(error, InvalidToken):
        logger.error("cannot start: the Bot API rejected the token (check TELEGRAM_TOKEN and TELEGRAM_API_URL)")
    else:
        logger.error("cannot start: %s: %s", type(error).__name__, error)
    return 500, "bot unavailable"


def handle(headers: Mapping[str, str], body: bytes | str) -> tuple[int, str]:
    """Process one Telegram webhook request completely; return the HTTP status and body to answer with.

    The secret is checked before anything else is looked at (403), then the body's size (400);
    see :mod:`bot.updates` for the other answers. Nothing raised here carries a secret: a bot
    that cannot start answers 500 after logging why, redacted.
    """
    secret = settings.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is not set: the serverless handler refuses unauthenticated updates")
    if not updates.secret_matches(headers, secret):
        return 403, "forbidden"
    limit = max_update_bytes()
    if not isinstance(body, (bytes, str)) or len(body) > limit:
        return 400, "not a Telegram update"
    try:
        runtime = _get_runtime()
    except Exception as error:  # noqa: BLE001  (the host would log it with the token in it)
        return _refuse_startup(error)
    try:
        update = updates.parse_update(body, runtime.application.bot, limit)
    except updates.NotAnUpdate as error:
        logger.warning("refused a request: %s", error)
        return 400, "not a Telegram update"
    except updates.UnreadableUpdate as error:
        logger.error("%s; answered 200 so that Telegram does not send it again", error, exc_info=error.__cause__)
        return 200, "ok"
    try:
        runtime.run(runtime.application.process_update(update))
    except Exception:  # noqa: BLE001  (processing failed after the handlers' own error handling: log, never retry)
        logger.exception("update %s failed; answered 200 so that Telegram does not send it again", update.update_id)
    return 200, "ok"


def _response(status: int, text: str) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain"}, "body": text}


def lambda_handler(event: dict, context: object = None) -> dict:
    """AWS Lambda entry point (function URL or API Gateway HTTP API event); the secret is checked before the body is decoded."""
    event = event if isinstance(event, dict) else {}
    headers = event.get("headers")
    secret = settings.get("TELEGRAM_WEBHOOK_SECRET")
    if secret and not updates.secret_matches(headers, secret):
        return _response(403, "forbidden")
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        if not isinstance(body, str) or len(body) > max_update_bytes() * 4 // 3 + 4:
            return _response(400, "not a Telegram update")
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return _response(400, "not a Telegram update")
    return _response(*handle(headers or {}, body))


def gcf_handler(request) -> tuple[str, int]:
    """Google Cloud Functions / functions-framework entry point (a Flask request); no body is read before the secret matches."""
    secret = settings.get("TELEGRAM_WEBHOOK_SECRET")
    if secret and not updates.secret_matches(request.headers, secret):
        return "forbidden", 403
    limit = max_update_bytes()
    if (request.content_length or 0) > limit:
        return "not a Telegram update", 400
    status, text = handle(request.headers, request.stream.read(limit + 1))
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
