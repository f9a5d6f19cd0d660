"""Bot settings: environment variables first, command-line flags over them. Secrets only from the environment or flags, never logged.

Every variable (name, default, flag, meaning) is declared once in :mod:`cleanmessy.settings`; the
README's Configuration table lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cleanmessy import settings
from cleanmessy.settings import SettingError

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Bots cannot download files larger than this through the public Bot API (``getFile``)."""


class ConfigError(SettingError):
    """A setting is missing or malformed; the message names the variable or flag to fix."""


def max_update_bytes() -> int:
    """Largest webhook body read as an update (``BOT_MAX_UPDATE_BYTES``), for the checks made before a config exists."""
    try:
        return settings.get("BOT_MAX_UPDATE_BYTES")
    except SettingError as error:
        raise ConfigError(str(error)) from None


_FIELDS = {
    "token": "TELEGRAM_TOKEN",
    "webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "api_url": "TELEGRAM_API_URL",
    "model_id": "MODEL_ID",
    "model_revision": "MODEL_REVISION",
    "feedback_dir": "FEEDBACK_DIR",
    "max_concurrent": "BOT_MAX_CONCURRENT",
    "album_wait": "BOT_ALBUM_WAIT",
    "max_bytes": "MAX_IMAGE_BYTES",
    "threads": "TORCH_THREADS",
    "max_update_bytes": "BOT_MAX_UPDATE_BYTES",
}
"""The config field each variable fills (``BOT_RATE_LIMIT`` fills two: ``rate_limit`` and ``rate_window``)."""


@dataclass(frozen=True)
class BotConfig:
    """Everything the bot needs to run; build it with :meth:`from_env` and override fields from flags."""

    token: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    api_url: str = settings.default("TELEGRAM_API_URL")
    model_id: str = settings.default("MODEL_ID")
    model_revision: str | None = None
    feedback_dir: Path = Path(settings.default("FEEDBACK_DIR"))
    rate_limit: int = settings.default("BOT_RATE_LIMIT")[0]
    rate_window: float = settings.default("BOT_RATE_LIMIT")[1]
    max_concurrent: int = settings.default("BOT_MAX_CONCURRENT")
    album_wait: float = settings.default("BOT_ALBUM_WAIT")
    max_bytes: int = settings.default("MAX_IMAGE_BYTES")
    threads: int | None = None
    max_update_bytes: int = settings.default("BOT_MAX_UPDATE_BYTES")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "BotConfig":
        """Read ``environ`` (default: this process's environment); keyword ``overrides`` that are not ``None`` win."""
        try:
            values = {key: settings.get(name, environ) for key, name in _FIELDS.items()}
            values["rate_limit"], values["rate_window"] = settings.get("BOT_RATE_LIMIT", environ)
        except SettingError as error:
            raise ConfigError(str(error)) from None
        values["token"] = values["token"] or ""
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["feedback_dir"] = Path(values["feedback_dir"])
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
        return self.threads or settings.default_threads(self.max_concurrent)

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
