"""Command line: ``python -m bot --mode polling`` or ``--mode webhook``. See bot/README.md."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import re
import sys
from urllib.parse import urlparse

from telegram.error import InvalidToken, TelegramError

from bot import webhook
from bot.app import build_application
from bot.config import BotConfig, ConfigError
from bot.logs import setup_logging
from cleanmessy import settings

logger = logging.getLogger("bot")
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


BOT_FLAGS = {
    "TELEGRAM_WEBHOOK_SECRET": "secret",  # prefer the environment: flags show in ps
    "TELEGRAM_API_URL": "api_url",
    "MODEL_ID": "model",
    "MODEL_REVISION": "revision",
    "FEEDBACK_DIR": "feedback_dir",
    "BOT_RATE_LIMIT": "rate_limit",
    "BOT_MAX_CONCURRENT": "max_concurrent",
    "BOT_ALBUM_WAIT": "album_wait",
    "MAX_IMAGE_BYTES": "max_bytes",
    "TORCH_THREADS": "threads",
    "LOG_LEVEL": "log_level",
}
"""The variables the bot also takes as flags, and the argparse ``dest`` of each (flag names: cleanmessy.settings)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags; each overrides the environment variable named in its help."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Clean-or-messy Telegram bot.")
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling",
                        help="polling: ask Telegram for updates (local use); webhook: serve HTTP for Telegram to call")
    parser.add_argument("--listen", default="127.0.0.1", help="webhook: address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="webhook: port to bind (default 8443)")
    parser.add_argument("--url", help="webhook: public https URL Telegram posts to; its path is served")
    for name, dest in BOT_FLAGS.items():
        settings.add_flag(parser, name, dest=dest)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> BotConfig:
    """Environment plus flag overrides; in webhook mode also check the URL and the secret."""
    rate_limit, rate_window = args.rate_limit or (None, None)
    config = BotConfig.from_env(
        webhook_secret=args.secret, api_url=args.api_url, model_id=args.model, model_revision=args.revision,
        feedback_dir=args.feedback_dir,
        rate_limit=rate_limit, rate_window=rate_window, max_concurrent=args.max_concurrent,
        album_wait=args.album_wait, max_bytes=args.max_bytes, threads=args.threads,
    )
    if args.mode == "webhook":
        if not args.url or urlparse(args.url).scheme not in ("https", "http"):
            raise ConfigError("webhook mode needs --url https://your.host/path (the address Telegram posts to)")
        if not config.webhook_secret or not SECRET_PATTERN.fullmatch(config.webhook_secret):
            raise ConfigError(
                "webhook mode needs a secret: set TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)"
            )
    return config


def main(argv: list[str] | None = None) -> int:
    """Load the model, then run until Ctrl-C / SIGTERM."""
    from cleanmessy.errors import CleanMessyError
    from cleanmessy.feedback_sync import start_feedback_sync
    from cleanmessy.predictor import Predictor  # torch: imported after the flags are known to be valid

    args = parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    setup_logging(config.secrets, args.log_level or settings.log_level())
    try:
        predictor = Predictor.load(config.model_id, threads=config.inference_threads, revision=config.model_revision)
    except CleanMessyError as error:
        logger.error("cannot start: %s", error)
        return 2
    application = build_application(config, predictor)
    # The model's objects live as long as the process: keep them out of every garbage
    # collection, including the interpreter's final ones (1-2 s at exit otherwise).
    gc.freeze()
    logger.info("bot starting: mode %s, model %s", args.mode, predictor.served.describe())
    sync = start_feedback_sync(config.feedback_dir)
    try:
        if args.mode == "polling":
            application.run_polling()
        else:
            asyncio.run(webhook.serve(
                application, listen=args.listen, port=args.port, url_path=urlparse(args.url).path,
                webhook_url=args.url, secret=config.webhook_secret, max_bytes=config.max_update_bytes,
            ))
    except InvalidToken:  # its message quotes the token: never pass it on
        logger.error("cannot start: the Bot API at %s rejected the token: check TELEGRAM_TOKEN and TELEGRAM_API_URL",
                     config.api_url)
        return 1
    except TelegramError as error:
        logger.error("cannot start: the Bot API failed: %s: %s", type(error).__name__, error)
        return 1
    finally:
        if sync:
            sync.close()
    logger.info("bot stopped")
    return 0
