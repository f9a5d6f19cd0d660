"""Logging that never shows the bot token or the webhook secret.

The token sits inside every Bot API URL, and python-telegram-bot logs those URLs at
DEBUG; httpx logs each request URL at INFO. So: httpx/httpcore are kept at WARNING,
and a :class:`RedactingFilter` on every root handler replaces each secret with
``[REDACTED]`` in the message, its arguments and any traceback before a handler
writes the record out.
"""

from __future__ import annotations

import logging
from typing import Iterable

REDACTED = "[REDACTED]"
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler", "tornado.access")


class RedactingFilter(logging.Filter):
    """Rewrites a record in place so that none of ``secrets`` survives in its text or traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]
        # The numeric bot id before the colon is public; the part after it (35 characters in real
        # tokens) is the secret, and shows alone where the colon is URL-encoded (file downloads).
        halves = [secret.split(":", 1)[1] for secret in self.secrets if ":" in secret]
        self.secrets += [half for half in halves if len(half) >= 16]

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(secrets: Iterable[str], level: str | int = "INFO") -> RedactingFilter:
    """Configure root logging once (stderr), quiet the URL-logging libraries, and redact ``secrets`` on every handler."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    logging.getLogger().setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    redacting = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
    return redacting
