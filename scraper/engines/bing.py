"""Bing Images. Every selector and URL for Bing lives here.

Bing puts each result's metadata in the thumbnail link's ``m`` attribute, a JSON object with
``murl`` (the full-size image) and ``purl`` (the page it is on), as its public markup has done
for years. Reading it is the same information the detail pane shows after a click, without
loading the pane's iframe, so :meth:`BingImages.resolve` reads the attribute instead of clicking.
Bing has no reliable end-of-results marker: the scraper stops when scrolling no longer adds results.
"""

from __future__ import annotations

import json
from typing import Callable

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from scraper.engines.base import Candidate, EngineAdapter


class BingImages(EngineAdapter):
    """Bing Images: thumbnails are ``a.iusc`` links whose ``m`` JSON holds the full-size URL."""

    name = "bing"
    default_base_url = "https://www.bing.com"
    search_path = "/images/search?q={query}&form=HDRSC2&first=1"

    thumbnail = "a.iusc"
    metadata_attribute = "m"
    more_results = "a.btn_seemore, input[value='See more images']"
    consent_buttons = ("#bnp_btn_accept", "button#onetrust-accept-btn-handler")
    site_hosts = ("www.bing.com", "*.bing.com", "*.bing.net")

    def resolve(self, driver: WebDriver, thumbnail: WebElement, timeout: float, pace: Callable[[], None]) -> Candidate | None:
        """Read ``murl``/``purl`` from the thumbnail's metadata; ``None`` if absent or malformed.

        Nothing is clicked, so ``pace`` is never called: no politeness pause per result.
        """
        try:
            raw = thumbnail.get_attribute(self.metadata_attribute)
        except StaleElementReferenceException:
            return None
        try:
            metadata = json.loads(raw or "")
        except json.JSONDecodeError:
            return None
        image_url = metadata.get("murl") if isinstance(metadata, dict) else None
        if not isinstance(image_url, str) or not image_url.startswith(("http://", "https://")):
            return None
        page_url = metadata.get("purl")
        return Candidate(image_url=image_url, page_url=page_url if isinstance(page_url, str) else None)
