"""Typed scraper errors whose messages tell the user what to do."""

from __future__ import annotations


class ScraperError(Exception):
    """Base class: ``str(error)`` is a one-line message fit to show the user."""


class KeywordFileError(ScraperError, ValueError):
    """The keyword file is missing, malformed, or has an invalid row."""


class EngineError(ScraperError, ValueError):
    """An unknown engine name, or an engine used without the settings it needs."""


class BrowserError(ScraperError, RuntimeError):
    """Chromium or chromedriver could not be started."""


class SelectorError(ScraperError, RuntimeError):
    """The search page no longer matches the engine adapter's selectors (the site changed)."""


class BlockedError(ScraperError, RuntimeError):
    """The site answered with a captcha / "unusual traffic" page instead of results."""


class DatasetError(ScraperError, ValueError):
    """An output or input folder is not in the expected layout."""
