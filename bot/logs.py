"""Output that never shows the bot token or the webhook secret, whichever way it leaves the process.

The token sits inside every Bot API URL, and python-telegram-bot logs those URLs at
DEBUG; httpx logs each request URL at INFO; ``InvalidToken`` quotes the token in its
message. So:

- httpx/httpcore are kept at WARNING;
- a :class:`RedactingFilter` on every root handler (the host's own too, on Lambda)
  replaces each secret with ``[REDACTED]`` in the message, its arguments and any traceback;
- :class:`RedactingStream` wraps ``sys.stdout`` and ``sys.stderr``, so a ``print``, a
  library writing to stderr or an exit message is redacted as well;
- ``sys.excepthook`` and ``threading.excepthook`` print uncaught tracebacks redacted.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import traceback
from typing import Iterable, TextIO

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
        self.secrets.sort(key=len, reverse=True)  # the whole token before its half

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
        # Only the redacted text travels on: a formatter that would render the exception itself
        # (a host's JSON formatter, an error tracker) finds no exception object to leak from.
        record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class RedactingStream(io.TextIOBase):
    """A text stream that writes whole lines to ``target`` with every secret redacted.

    Lines are held until their newline (or a flush), so a secret written in pieces is still caught.
    """

    def __init__(self, target: TextIO, redacting: RedactingFilter) -> None:
        super().__init__()
        self.target = target
        self.redacting = redacting
        self._pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            if "\n" in self._pending:
                complete, self._pending = self._pending.rsplit("\n", 1)
                self.target.write(self.redacting.redact(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self.target.write(self.redacting.redact(self._pending))
                self._pending = ""
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


def redact_process_output(redacting: RedactingFilter) -> None:
    """Route ``sys.stdout``/``sys.stderr`` and uncaught exceptions (main and other threads) through ``redacting``."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, RedactingStream):
            stream.redacting.secrets = sorted(set(stream.redacting.secrets) | set(redacting.secrets), key=len, reverse=True)
        elif stream is not None:
            setattr(sys, name, RedactingStream(stream, redacting))

    def excepthook(kind, value, tb) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(redacting.redact(text))
        sys.stderr.flush()

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread else "?"
        excepthook(args.exc_type, args.exc_value, args.exc_traceback)
        sys.stderr.write(f"(in thread {name})\n")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def setup_logging(secrets: Iterable[str], level: str | int = "INFO") -> RedactingFilter:
    """Configure root logging once (stderr), quiet the URL-logging libraries, and redact ``secrets`` everywhere.

    Every root handler gets a :class:`RedactingFilter`; stdout, stderr and the exception
    hooks are redacted too (:func:`redact_process_output`), before any handler is created.
    """
    redacting = RedactingFilter(secrets)
    redact_process_output(redacting)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    logging.getLogger().setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redacting)
    return redacting
