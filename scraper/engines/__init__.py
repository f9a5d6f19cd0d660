"""Engine adapters by name. Add an engine: write one adapter module and register it here."""

from __future__ import annotations

from scraper.engines.base import Candidate, EngineAdapter
from scraper.engines.bing import BingImages
from scraper.engines.fake import FakeSearch
from scraper.engines.google import GoogleImages
from scraper.errors import EngineError

ENGINES: dict[str, type[EngineAdapter]] = {cls.name: cls for cls in (GoogleImages, BingImages, FakeSearch)}


def get_engine(name: str, base_url: str | None = None) -> EngineAdapter:
    """An adapter instance for ``name`` (``google``, ``bing`` or ``fake``), optionally at another address."""
    try:
        cls = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}") from None
    return cls(base_url)


__all__ = ["ENGINES", "Candidate", "EngineAdapter", "get_engine"]
