"""Albums: Telegram delivers each photo of a media group as its own update; answer them once."""

from __future__ import annotations

import asyncio

from telegram import Message


class AlbumCollector:
    """Gathers the messages of one media group, which Telegram delivers as separate updates.

    The first photo's handler waits ``wait`` seconds and gets the whole album back; the
    handlers of the other photos get ``None`` and stay silent. Needs concurrent update
    processing (the first handler sleeps while the others arrive). ``wait=0`` answers
    every photo on its own, as the serverless handler must (one update per invocation).
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._albums: dict[tuple[int, str], list[Message]] = {}

    async def collect(self, message: Message) -> list[Message] | None:
        """The album's messages in order (to the first caller), ``[message]`` outside albums, else ``None``."""
        if not message.media_group_id or self.wait <= 0:
            return [message]
        key = (message.chat_id, message.media_group_id)
        if key in self._albums:
            self._albums[key].append(message)
            return None
        self._albums[key] = [message]
        await asyncio.sleep(self.wait)
        return sorted(self._albums.pop(key), key=lambda m: m.message_id)
