"""``python -m bot --mode webhook``: a small tornado server that feeds authenticated updates to the ``Application``.

python-telegram-bot's built-in webhook server parses the body before it can be refused
(a non-JSON body is a 500) and reads bodies of any size. This one, following PTB's
custom-webhook pattern (``async with application``, ``update_queue.put``), answers as
:mod:`bot.updates` describes: the secret is checked when the headers arrive, before a
byte of the body is read (403); the body is capped at ``BOT_MAX_UPDATE_BYTES`` (400);
anything that came from Telegram is answered 200, even when it cannot be read.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import tornado.httpserver
import tornado.web
from telegram.ext import Application

from bot import updates

logger = logging.getLogger(__name__)


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """POST one update: secret, then size, then parse; queue it for the ``Application``."""

    def initialize(self, bot_application: Application, secret: str, max_bytes: int) -> None:
        self.bot_application = bot_application
        self.secret = secret
        self.max_bytes = max_bytes
        self.chunks: list[bytes] = []
        self.size = 0
        self.answered = False

    def _answer(self, status: int, text: str) -> None:
        self.answered = True
        self.set_status(status)
        self.set_header("Content-Type", "text/plain")
        self.finish(text)

    def prepare(self) -> None:
        if self.request.method != "POST":
            return
        if not updates.secret_matches(self.request.headers, self.secret):
            logger.debug("webhook request without the right secret: 403")
            self._answer(403, "forbidden")
            return
        length = self.request.headers.get("Content-Length")
        if length and (not length.isascii() or not length.isdigit() or int(length) > self.max_bytes):
            logger.warning("refused a request: body of %s bytes is over the %d-byte limit", length, self.max_bytes)
            self._answer(400, "not a Telegram update")

    def data_received(self, chunk: bytes) -> None:
        if self.answered:
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            logger.warning("refused a request: body over the %d-byte limit", self.max_bytes)
            self._answer(400, "not a Telegram update")
            return
        self.chunks.append(chunk)

    async def post(self) -> None:
        if self.answered:
            return
        try:
            update = updates.parse_update(b"".join(self.chunks), self.bot_application.bot, self.max_bytes)
        except updates.NotAnUpdate as error:
            logger.warning("refused a request: %s", error)
            self._answer(400, "not a Telegram update")
            return
        except updates.UnreadableUpdate as error:
            logger.error("%s; answered 200 so that Telegram does not send it again", error, exc_info=error.__cause__)
            self._answer(200, "ok")
            return
        await self.bot_application.update_queue.put(update)
        self._answer(200, "ok")

    def log_exception(self, typ, value, tb) -> None:
        logger.error("webhook request failed", exc_info=(typ, value, tb))  # through the redacting log filter

    def on_connection_close(self) -> None:
        self.chunks.clear()


async def serve(application: Application, *, listen: str, port: int, url_path: str, webhook_url: str,
                secret: str, max_bytes: int) -> None:
    """Initialise the bot, ``setWebhook``, serve ``/url_path`` until SIGINT/SIGTERM, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    routes = [(f"/{url_path.strip('/')}/?", UpdateHandler,
               {"bot_application": application, "secret": secret, "max_bytes": max_bytes})]
    async with application:  # initialize() (getMe) ... shutdown()
        if application.post_init:
            await application.post_init(application)
        await application.bot.set_webhook(url=webhook_url, secret_token=secret)
        await application.start()
        server = tornado.httpserver.HTTPServer(tornado.web.Application(routes), max_body_size=max_bytes)
        server.listen(port, listen)
        logger.info("webhook server listening on %s:%d/%s", listen, port, url_path.strip("/"))
        try:
            await stop.wait()
        finally:
            server.stop()
            await server.close_all_connections()
            await application.stop()
