"""Webhook requests in, updates out: the secret first, then the size cap, then a parser that never crashes.

Shared by the webhook server (``python -m bot --mode webhook``) and the serverless handler,
so both answer the same way:

| request                                            | answer | logged            |
|----------------------------------------------------|--------|-------------------|
| no or wrong ``X-Telegram-Bot-Api-Secret-Token``      | 403    | nothing (debug)   |
| right secret, body over ``BOT_MAX_UPDATE_BYTES``, not JSON, nested too deep, not an object with an integer ``update_id`` | 400 | a warning |
| an update whose fields cannot be read (a date of 1e20...) | 200 | an error, redacted |
| an update that fails inside a handler              | 200    | the error handler's traceback, redacted |

Telegram redelivers an update until it gets a 2xx, so anything that came from Telegram is
answered 200 even when it fails: a broken update must not become a retry storm.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Mapping

from telegram import Bot, Update

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class NotAnUpdate(ValueError):
    """The body is not a Telegram update (answer 400); ``str()`` says why, without quoting the body."""


class UnreadableUpdate(ValueError):
    """An update-shaped body whose fields could not be read (answer 200, so Telegram does not redeliver it)."""

    def __init__(self, update_id: int, error: BaseException) -> None:
        super().__init__(f"update {update_id} could not be read: {type(error).__name__}")
        self.update_id = update_id


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The value of header ``name`` (any case) in ``headers``, or ``None``; tolerates any mapping or none."""
    if not isinstance(headers, Mapping):
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def secret_matches(headers: Mapping[str, str] | None, secret: str) -> bool:
    """Whether ``headers`` carry ``secret`` in ``X-Telegram-Bot-Api-Secret-Token`` (constant-time comparison)."""
    given = header(headers, SECRET_HEADER)
    return bool(given) and hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode())


def parse_update(body: bytes | str, bot: Bot, max_bytes: int) -> Update:
    """Turn an authenticated request body into an ``Update``.

    Raises ``NotAnUpdate`` for a body that is too large, not JSON, nested too deep or not an
    update, and ``UnreadableUpdate`` for an update whose fields python-telegram-bot cannot read.
    """
    size = len(body.encode() if isinstance(body, str) else body)
    if size > max_bytes:
        raise NotAnUpdate(f"body of {size} bytes is over the {max_bytes}-byte limit")
    try:
        data = json.loads(body)
    except RecursionError:
        raise NotAnUpdate("body is nested too deep") from None
    except (ValueError, TypeError):  # includes UnicodeDecodeError
        raise NotAnUpdate("body is not JSON") from None
    update_id = data.get("update_id") if isinstance(data, dict) else None
    if type(update_id) is not int:
        raise NotAnUpdate("body is not an object with an integer update_id")
    try:
        return Update.de_json(data, bot)
    except Exception as error:  # noqa: BLE001  (any field python-telegram-bot cannot read: OverflowError, RecursionError...)
        raise UnreadableUpdate(update_id, error) from error
