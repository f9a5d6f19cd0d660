"""A loopback Telegram Bot API for tests and benchmarks: aiohttp on 127.0.0.1, in its own thread.

The real, unpatched python-telegram-bot talks to it once pointed there::

    fake = FakeTelegram().start()
    app = Application.builder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)

It answers the methods the bot calls (``getMe``, ``getUpdates`` with long polling,
``getFile`` and downloads, ``sendMessage``, ``sendPhoto``, ``editMessageReplyMarkup``...),
records every call, and builds the updates a user would cause (photo, album, document,
text, button tap) for ``getUpdates`` (``push``) or for a webhook POST (``update``).
It runs in a thread with its own event loop, so it serves an Application in the test's
loop and a bot in a subprocess alike. Nothing is ever sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web
from PIL import Image

TOKEN = "123456789:AAFakeTokenForTestsOnly-do_not_use_x"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "Clean or messy", "username": "cleanmessy_test_bot"}
# Parameters that stay strings; PTB JSON-encodes every other non-string value.
_TEXT_PARAMETERS = {"text", "caption", "url", "secret_token", "callback_query_id", "file_id", "action", "parse_mode"}


@dataclass(frozen=True)
class Call:
    """One Bot API request the bot made: method name, decoded parameters, and when it arrived."""

    method: str
    params: dict[str, Any]
    time: float


def encode_image(image: Image.Image, format: str = "JPEG") -> bytes:
    """Encode a PIL image (JPEG by default) the way a phone would upload it."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=format)
    return buffer.getvalue()


class FakeTelegram:
    """A tiny Bot API server. ``start()`` it, point the bot at ``base_url``/``base_file_url``, ``stop()`` it."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.url = ""
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []  # file_ids fetched through getFile
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> message
        self.webhook: dict[str, Any] = {}
        self._updates: list[dict] = []
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._changed = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new_update: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def start(self) -> "FakeTelegram":
        """Serve on a free 127.0.0.1 port in a daemon thread; return self."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-telegram", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        """Close the server and its thread."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._new_update = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        # handler_cancellation: a long poll the bot abandons ends at once, so shutdown is quick.
        # access_log=None: request paths contain the token.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    # ---- what the bot did ------------------------------------------------------------------

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[dict]:
        """Parameters of the calls made so far, optionally only one method and/or one chat."""
        with self._changed:
            return [
                call.params
                for call in self.calls
                if (method is None or call.method == method)
                and (chat_id is None or call.params.get("chat_id") == chat_id)
            ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts of the messages the bot sent (to one chat, or all)."""
        return [params["text"] for params in self.sent("sendMessage", chat_id)]

    def wait_for(self, predicate: Callable[["FakeTelegram"], Any], timeout: float = 10.0) -> Any:
        """Block until ``predicate(self)`` is truthy and return its value; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := predicate(self)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    methods = [call.method for call in self.calls]
                    raise TimeoutError(f"condition not met within {timeout} s; calls so far: {methods}")
                self._changed.wait(remaining)
            return result

    async def until(self, predicate: Callable[["FakeTelegram"], Any], timeout: float = 10.0) -> Any:
        """``wait_for`` for async tests (runs the wait in a thread so the bot's loop keeps going)."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def wait_texts(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[str]:
        """Block until the bot sent ``count`` messages to ``chat_id``; return their texts."""
        return self.wait_for(lambda fake: len(texts := fake.texts(chat_id)) >= count and texts, timeout)

    # ---- what a user does ------------------------------------------------------------------

    def add_file(self, data: bytes) -> dict:
        """Store ``data`` as a downloadable file; return ``{"file_id", "file_unique_id", "file_size"}``."""
        number = next(self._ids)
        file_id = f"file-{number}"
        with self._changed:
            self.files[file_id] = data
        return {"file_id": file_id, "file_unique_id": f"u{number}", "file_size": len(data)}

    def _message(self, chat_id: int, user_id: int, **content: Any) -> dict:
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Tester"},
            "from": {"id": user_id, "is_bot": False, "first_name": "Tester"},
            **content,
        }
        with self._changed:
            self.messages[(chat_id, message["message_id"])] = message
        return message

    def photo_message(
        self, data: bytes, *, chat_id: int = 42, user_id: int | None = None,
        media_group_id: str | None = None, file_size: int | None = None,
    ) -> dict:
        """A compressed photo. Its smaller sizes are not images, so a bot must take the largest."""
        thumbnails = [self.add_file(b"not the largest size") for _ in range(2)]
        largest = self.add_file(data)
        if file_size is not None:
            largest["file_size"] = file_size
        sizes = [
            {**thumbnails[0], "width": 90, "height": 60},
            {**thumbnails[1], "width": 320, "height": 240},
            {**largest, "width": 1280, "height": 960},
        ]
        extra = {"media_group_id": media_group_id} if media_group_id else {}
        return self._message(chat_id, user_id or chat_id, photo=sizes, **extra)

    def document_message(
        self, data: bytes, *, file_name: str, mime_type: str, chat_id: int = 42,
        user_id: int | None = None, file_size: int | None = None,
    ) -> dict:
        """A file sent as a document (uncompressed); ``file_size`` may claim a size the data does not have."""
        document = {**self.add_file(data), "file_name": file_name, "mime_type": mime_type}
        if file_size is not None:
            document["file_size"] = file_size
        return self._message(chat_id, user_id or chat_id, document=document)

    def text_message(self, text: str, *, chat_id: int = 42, user_id: int | None = None) -> dict:
        """A text message; a leading ``/command`` gets its ``bot_command`` entity like Telegram adds."""
        extra = {}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._message(chat_id, user_id or chat_id, text=text, **extra)

    def callback_query(self, message: dict, data: str, *, user_id: int | None = None) -> dict:
        """A tap on an inline button ``data`` under the bot's ``message``."""
        user = user_id or message["chat"]["id"]
        return {
            "id": f"cq-{next(self._ids)}",
            "from": {"id": user, "is_bot": False, "first_name": "Tester"},
            "chat_instance": "ci-1",
            "message": message,
            "data": data,
        }

    def update(self, **payload: Any) -> dict:
        """An update dict with a fresh ``update_id``: ``update(message=...)`` or ``update(callback_query=...)``."""
        return {"update_id": next(self._update_ids), **payload}

    def push(self, *updates: dict) -> None:
        """Queue updates for the bot's next ``getUpdates``."""
        with self._changed:
            self._updates.extend(updates)
        self._loop.call_soon_threadsafe(self._new_update.set)

    def bot_message(self, chat_id: int, message_id: int) -> dict:
        """A message the bot sent, as stored (with its current reply markup)."""
        with self._changed:
            return self.messages[(chat_id, message_id)]

    # ---- the Bot API -----------------------------------------------------------------------

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        params: dict[str, Any] = {}
        uploads: dict[str, bytes] = {}
        if request.content_type == "application/json":
            return await request.json(), uploads
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                uploads[key] = value.file.read()
            elif key in _TEXT_PARAMETERS:
                params[key] = value
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        return params, uploads

    def _record(self, method: str, params: dict[str, Any]) -> None:
        with self._changed:
            self.calls.append(Call(method, params, time.monotonic()))
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params, uploads = await self._params(request)
        self._record(method, params)  # on arrival: a recorded getUpdates may still be waiting
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(404, f"Not Found: method {method} is not faked")
        return await handler(params, uploads)

    async def _api_getMe(self, params, uploads) -> web.Response:
        return self._ok(BOT_USER)

    async def _api_deleteWebhook(self, params, uploads) -> web.Response:
        self.webhook = {}
        return self._ok(True)

    async def _api_setWebhook(self, params, uploads) -> web.Response:
        self.webhook = params
        return self._ok(True)

    async def _api_getUpdates(self, params, uploads) -> web.Response:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._changed:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = self._updates[: int(params.get("limit") or 100)]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0:
                return self._ok(ready)
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def _api_getFile(self, params, uploads) -> web.Response:
        file_id = params["file_id"]
        if file_id not in self.files:
            return self._error(400, "Bad Request: invalid file_id")
        with self._changed:
            self.downloads.append(file_id)
        data = self.files[file_id]
        return self._ok({"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": len(data),
                         "file_path": f"files/{file_id}"})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    def _bot_reply(self, params: dict[str, Any], **content: Any) -> dict:
        chat_id = int(params["chat_id"])
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Tester"},
            "from": BOT_USER,
            **content,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        quoted = (params.get("reply_parameters") or {}).get("message_id") or params.get("reply_to_message_id")
        if quoted and (chat_id, quoted) in self.messages:
            message["reply_to_message"] = self.messages[(chat_id, quoted)]
        with self._changed:
            self.messages[(chat_id, message["message_id"])] = message
        return message

    async def _api_sendMessage(self, params, uploads) -> web.Response:
        return self._ok(self._bot_reply(params, text=params["text"]))

    async def _api_sendPhoto(self, params, uploads) -> web.Response:
        data = uploads.get("photo", b"")
        file = self.add_file(data)
        width, height = Image.open(io.BytesIO(data)).size if data else (0, 0)
        caption = {"caption": params["caption"]} if "caption" in params else {}
        params["photo_bytes"] = data
        return self._ok(self._bot_reply(params, photo=[{**file, "width": width, "height": height}], **caption))

    async def _api_sendChatAction(self, params, uploads) -> web.Response:
        return self._ok(True)

    async def _api_answerCallbackQuery(self, params, uploads) -> web.Response:
        return self._ok(True)

    async def _api_editMessageReplyMarkup(self, params, uploads) -> web.Response:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            return self._error(400, "Bad Request: message to edit not found")
        with self._changed:
            message = self.messages[key]
            message.pop("reply_markup", None)
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
        return self._ok(message)

    async def _api_setMyCommands(self, params, uploads) -> web.Response:
        return self._ok(True)
