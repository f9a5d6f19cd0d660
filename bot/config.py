"""Bot settings: environment variables first, command-line flags over them. Secrets only from the environment or flags, never logged.

| variable                  | flag               | default                   | meaning                                              |
|---------------------------|--------------------|---------------------------|------------------------------------------------------|
| ``TELEGRAM_TOKEN``        | (env only)         | required                  | the bot token from @BotFather                        |
| ``TELEGRAM_WEBHOOK_SECRET``| ``--secret``      | unset                     | webhook secret (``X-Telegram-Bot-Api-Secret-Token``) |
| ``TELEGRAM_API_URL``      | ``--api-url``      | ``https://api.telegram.org`` | Bot API server (a local Bot API server, or a test fake) |
| ``MODEL_ID``              | ``--model``        | ``models/clean-or-messy`` | Hub repo id or local model directory                 |
| ``FEEDBACK_DIR``          | ``--feedback-dir`` | ``feedback``              | where 👍/👎 feedback is stored                        |
| ``BOT_RATE_LIMIT``        | ``--rate-limit``   | ``10/60``                 | photos per user per window: ``COUNT/SECONDS``        |
| ``BOT_MAX_CONCURRENT``    | ``--max-concurrent``| ``2``                    | classifications running at once (others wait)        |
| ``BOT_ALBUM_WAIT``        | ``--album-wait``   | ``1.0``                   | seconds to collect an album's photos before answering |
| ``MAX_IMAGE_BYTES``       | ``--max-bytes``    | 20 MB                     | largest photo accepted (Telegram's own cap is 20 MB) |
| ``TORCH_THREADS``         | ``--threads``      | cores / max concurrent    | CPU threads per classification (so they never oversubscribe the CPU) |
| ``BOT_MAX_UPDATE_BYTES``  | (env only)         | 1 MB                      | webhook/serverless: larger request bodies get 400 unread |
| ``LOG_LEVEL``             | ``--log-level``    | ``INFO``                  | logging level                                        |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cleanmessy import settings
from cleanmessy.images import DEFAULT_MAX_BYTES

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_RATE_LIMIT = "10/60"
DEFAULT_MAX_CONCURRENT = 2
DEFAULT_ALBUM_WAIT = 1.0
DEFAULT_MAX_UPDATE_BYTES = 1024 * 1024
"""Telegram's updates are a few kB (a 4096-character text with entities and a quoted message stays far under this)."""
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Bots cannot download files larger than this through the public Bot API (``getFile``)."""


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable or flag to fix."""


def max_update_bytes(environ: dict[str, str] | None = None) -> int:
    """Largest webhook body read as an update (``BOT_MAX_UPDATE_BYTES``, default 1 MB)."""
    env = os.environ if environ is None else environ
    value = env.get("BOT_MAX_UPDATE_BYTES")
    try:
        limit = int(value) if value else DEFAULT_MAX_UPDATE_BYTES
    except ValueError:
        raise ConfigError(f"BOT_MAX_UPDATE_BYTES must be a whole number of bytes, got {value!r}") from None
    if limit < 1024:
        raise ConfigError(f"BOT_MAX_UPDATE_BYTES must be at least 1024, got {limit}")
    return limit


def parse_rate_limit(text: str) -> tuple[int, float]:
    """``"10/60"`` -> ``(10, 60.0)``: at most 10 photos per user in any 60 s. ``"0/60"`` turns the limit off."""
    try:
        count, seconds = text.split("/")
        result = int(count), float(seconds)
    except ValueError:
        raise ConfigError(f"rate limit must look like COUNT/SECONDS, e.g. 10/60, got {text!r}") from None
    if result[0] < 0 or result[1] <= 0:
        raise ConfigError(f"rate limit needs COUNT >= 0 and SECONDS > 0, got {text!r}")
    return result


@dataclass(frozen=True)
class BotConfig:
    """Everything the bot needs to run; build it with :meth:`from_env` and override fields from flags."""

    token: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    model_id: str = settings.DEFAULT_MODEL_DIR
    feedback_dir: Path = Path(settings.DEFAULT_FEEDBACK_DIR)
    rate_limit: int = 10
    rate_window: float = 60.0
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    album_wait: float = DEFAULT_ALBUM_WAIT
    max_bytes: int = DEFAULT_MAX_BYTES
    threads: int | None = None
    max_update_bytes: int = DEFAULT_MAX_UPDATE_BYTES

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "BotConfig":
        """Read the environment (``os.environ`` by default); keyword ``overrides`` that are not ``None`` win."""
        env = os.environ if environ is None else environ
        rate_limit, rate_window = parse_rate_limit(env.get("BOT_RATE_LIMIT") or DEFAULT_RATE_LIMIT)
        values = {
            "token": env.get("TELEGRAM_TOKEN", ""),
            "webhook_secret": env.get("TELEGRAM_WEBHOOK_SECRET") or None,
            "api_url": env.get("TELEGRAM_API_URL") or DEFAULT_API_URL,
            "model_id": env.get("MODEL_ID") or settings.DEFAULT_MODEL_DIR,
            "feedback_dir": Path(env.get("FEEDBACK_DIR") or settings.DEFAULT_FEEDBACK_DIR),
            "rate_limit": rate_limit,
            "rate_window": rate_window,
            "max_concurrent": int(env.get("BOT_MAX_CONCURRENT") or DEFAULT_MAX_CONCURRENT),
            "album_wait": float(env.get("BOT_ALBUM_WAIT") or DEFAULT_ALBUM_WAIT),
            "max_bytes": int(env.get("MAX_IMAGE_BYTES") or DEFAULT_MAX_BYTES),
            "threads": int(env["TORCH_THREADS"]) if env.get("TORCH_THREADS") else None,
            "max_update_bytes": max_update_bytes(env),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        """Raise ``ConfigError`` on a missing token or a nonsensical limit."""
        if not self.token:
            raise ConfigError("TELEGRAM_TOKEN is not set: get a token from @BotFather and export it")
        if self.max_concurrent < 1:
            raise ConfigError(f"BOT_MAX_CONCURRENT must be at least 1, got {self.max_concurrent}")
        if self.album_wait < 0:
            raise ConfigError(f"BOT_ALBUM_WAIT must be >= 0 seconds, got {self.album_wait}")
        if self.max_bytes < 1:
            raise ConfigError(f"MAX_IMAGE_BYTES must be positive, got {self.max_bytes}")

    @property
    def inference_threads(self) -> int:
        """CPU threads for one classification: ``threads``, else the cores shared by the concurrent ones."""
        return self.threads or max(1, (os.cpu_count() or 1) // self.max_concurrent)

    @property
    def base_url(self) -> str:
        """Bot API method URL prefix (the token is appended by python-telegram-bot)."""
        return f"{self.api_url.rstrip('/')}/bot"

    @property
    def base_file_url(self) -> str:
        """Bot API file download URL prefix (the token is appended by python-telegram-bot)."""
        return f"{self.api_url.rstrip('/')}/file/bot"

    @property
    def secrets(self) -> list[str]:
        """The values that must never appear in logs."""
        return [value for value in (self.token, self.webhook_secret) if value]
