"""Which file of a message to classify, whether its size is acceptable, and downloading it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from telegram import Bot, Message

from bot import texts
from bot.config import TELEGRAM_DOWNLOAD_LIMIT
from cleanmessy.model_files import IMAGE_SUFFIXES

IMAGE_EXTENSIONS = IMAGE_SUFFIXES | {".heic", ".heif", ".avif"}  # the last ones get a clear "not supported"


@dataclass(frozen=True)
class Incoming:
    """The file to classify: its Telegram id and the size Telegram reports (``None`` if unknown)."""

    file_id: str
    file_size: int | None


class Rejected(Exception):
    """A file the bot will not classify; ``str()`` is the friendly reply to send."""


def incoming_image(message: Message) -> Incoming | None:
    """The largest size of a photo, or an image document; ``None`` when the message has neither.

    Raises ``Rejected`` for a document whose MIME type and extension are not an image's.
    """
    if message.photo:
        largest = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return Incoming(largest.file_id, largest.file_size)
    document = message.document
    if document is None:
        return None
    mime = (document.mime_type or "").lower()
    extension = PurePosixPath(document.file_name or "").suffix.lower()
    if not (mime.startswith("image/") or extension in IMAGE_EXTENSIONS):
        raise Rejected(texts.NOT_AN_IMAGE.format(kind=mime or extension or "unknown type"))
    return Incoming(document.file_id, document.file_size)


def check_size(file_size: int | None, max_bytes: int) -> None:
    """Raise ``Rejected`` when a file is over Telegram's 20 MB download cap or over ``max_bytes``."""
    if file_size is None:
        return
    if file_size > TELEGRAM_DOWNLOAD_LIMIT:
        raise Rejected(texts.TOO_BIG_FOR_TELEGRAM.format(size=texts.megabytes(file_size)))
    if file_size > max_bytes:
        raise Rejected(texts.TOO_BIG_FOR_US.format(size=texts.megabytes(file_size), limit=texts.megabytes(max_bytes)))


async def download(bot: Bot, incoming: Incoming, max_bytes: int) -> bytes:
    """Fetch the file's bytes through ``getFile``, checking the size before any byte is downloaded."""
    check_size(incoming.file_size, max_bytes)
    telegram_file = await bot.get_file(incoming.file_id)
    check_size(telegram_file.file_size, max_bytes)
    return bytes(await telegram_file.download_as_bytearray())
