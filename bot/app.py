"""Build the python-telegram-bot ``Application`` around a loaded predictor."""

from __future__ import annotations

from telegram import BotCommand
from telegram.ext import Application

from bot import handlers, texts
from bot.config import BotConfig
from bot.service import BotService

CONCURRENT_UPDATES = 64
"""Updates handled at once: waiting on downloads and replies overlaps; CPU work is bounded separately."""


async def _set_commands(application: Application) -> None:
    await application.bot.set_my_commands([BotCommand(name, about) for name, about in texts.COMMANDS.items()])


def build_application(config: BotConfig, predictor, *, set_commands: bool = True) -> Application:
    """An ``Application`` talking to ``config.api_url``, with every handler registered.

    ``set_commands`` publishes the command list (``setMyCommands``) when polling or the
    webhook server starts; the serverless handler skips it to keep invocations short.
    """
    builder = (
        Application.builder()
        .token(config.token)
        .base_url(config.base_url)
        .base_file_url(config.base_file_url)
        .concurrent_updates(CONCURRENT_UPDATES)
    )
    if set_commands:
        builder = builder.post_init(_set_commands)
    application = builder.build()
    application.bot_data["service"] = BotService(config, predictor)
    handlers.register(application)
    return application
