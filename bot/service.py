"""What the handlers share: the predictor behind a semaphore, off the event loop; feedback; limits; recent verdicts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

from telegram.ext import CallbackContext

from bot.config import BotConfig
from bot.albums import AlbumCollector
from bot.limits import RateLimiter
from cleanmessy.errors import ImageError
from cleanmessy.feedback import FeedbackStore
from cleanmessy.images import load_image
from cleanmessy.intake import classify_photos
from cleanmessy.model_info import ModelInfo, read_model_info
from cleanmessy.verdict import Verdict

logger = logging.getLogger(__name__)

RECENT_REPLIES = 4096
"""How many verdict replies the buttons can still refer to from memory (older ones re-classify the quoted photo)."""


@dataclass(frozen=True)
class PhotoRef:
    """A classified photo: its Telegram file id and the verdict the bot showed."""

    file_id: str
    verdict: Verdict


class BotService:
    """One bot's shared state: the model and what the handlers share. Stored in ``application.bot_data["service"]``."""

    def __init__(self, config: BotConfig, predictor) -> None:
        self.config = config
        self.predictor = predictor
        self.rate = RateLimiter(config.rate_limit, config.rate_window)
        self.albums = AlbumCollector(config.album_wait)
        self.feedback = FeedbackStore(config.feedback_dir)
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self._recent: OrderedDict[tuple[int, int], list[PhotoRef | None]] = OrderedDict()

    @cached_property
    def model_info(self) -> ModelInfo:
        """The served model's id, revision and measured accuracy (read once)."""
        return read_model_info(self.predictor.served)

    @property
    def unsure_below(self) -> float:
        return self.predictor.unsure_below

    async def _run(self, function, *args):
        """Run CPU-bound ``function`` in a worker thread, at most ``max_concurrent`` at a time."""
        async with self._slots:
            return await asyncio.to_thread(function, *args)

    def _classify(self, payloads: list[bytes]) -> list[Verdict | ImageError]:
        started = time.perf_counter()
        results = classify_photos(self.predictor, payloads, max_bytes=self.config.max_bytes)
        logger.debug("classified %d photo(s) in %.3f s", len(payloads), time.perf_counter() - started)
        return results

    async def classify(self, payloads: list[bytes]) -> list[Verdict | ImageError]:
        """Decode and classify encoded images in one batch; an unusable image yields its ``ImageError``."""
        return await self._run(self._classify, payloads)

    def _explain(self, data: bytes):
        from cleanmessy.explain import explain  # imported on first use: keeps cold starts short

        return explain(self.predictor, load_image(data, max_bytes=self.config.max_bytes))  # full size: the overlay is shown

    async def explain(self, data: bytes):
        """The core's heatmap explanation (``.overlay``, ``.verdict``) for one encoded image."""
        return await self._run(self._explain, data)

    def _save(self, data: bytes, verdict: Verdict, correct_label: str):
        image = load_image(data, max_bytes=self.config.max_bytes)
        return self.feedback.save(image, verdict, correct_label, source="telegram")

    async def save_feedback(self, data: bytes, verdict: Verdict, correct_label: str):
        """Store the photo under its correct label with the verdict the bot gave (no user data)."""
        return await asyncio.to_thread(self._save, data, verdict, correct_label)

    def remember(self, chat_id: int, message_id: int, photos: list[PhotoRef | None]) -> None:
        """Keep the photos behind a verdict reply so its buttons can find them."""
        self._recent[(chat_id, message_id)] = photos
        while len(self._recent) > RECENT_REPLIES:
            self._recent.popitem(last=False)

    def recall(self, chat_id: int, message_id: int, index: int) -> PhotoRef | None:
        """The photo number ``index`` behind a verdict reply, if still remembered."""
        photos = self._recent.get((chat_id, message_id)) or []
        return photos[index] if index < len(photos) else None


def bot_service(context: CallbackContext) -> BotService:
    """The ``BotService`` of the application handling ``context``."""
    return context.application.bot_data["service"]
