"""What an image-search engine adapter is: its URLs and CSS selectors, and how a click becomes a URL.

A subclass sets the class attributes below and, if the engine needs it, overrides
:meth:`EngineAdapter.resolve`. Nothing outside ``scraper/engines/`` knows any selector, so when a
site changes its markup the fix is one file (see ``scraper/README.md``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Callable, ClassVar

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    TimeoutException,
)
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from scraper.errors import EngineError

POLL = 0.05
"""WebDriverWait poll interval: measured 2x faster than Selenium's 0.5 s default."""

# One script call instead of a round trip per attribute: the first preview <img> whose src is a
# real full-size URL (http(s), not a placeholder, not the thumbnail, not the previous result),
# and the first page link's href.
_PREVIEW_JS = """
const [imageSel, linkSel, placeholders, thumbSrc, previous] = arguments;
const isFull = (src) => /^https?:/i.test(src) && src !== thumbSrc && src !== previous
    && !placeholders.some((p) => src.includes(p));
for (const img of document.querySelectorAll(imageSel)) {
    const src = img.currentSrc || img.src || '';
    if (isFull(src)) {
        let page = null;
        if (linkSel) {
            for (const a of document.querySelectorAll(linkSel)) {
                if (/^https?:/i.test(a.href || '')) { page = a.href; break; }
            }
        }
        return [src, page];
    }
}
return null;
"""

_THUMB_SRC_JS = """
const el = arguments[0];
const img = el.tagName === 'IMG' ? el : el.querySelector('img');
return img ? (img.currentSrc || img.src || '') : '';
"""


@dataclass(frozen=True)
class Candidate:
    """A full-size image found on the results page, and the page it comes from."""

    image_url: str
    page_url: str | None = None


class EngineAdapter:
    """Base adapter. Selectors are CSS; ``None`` means the engine has no such element."""

    name: ClassVar[str]
    default_base_url: ClassVar[str | None] = None
    search_path: ClassVar[str]
    """Path and query string after the base URL; ``{query}`` is replaced by the URL-encoded query."""

    thumbnail: ClassVar[str]
    """Every result thumbnail to click, in page order."""
    fallback_thumbnails: ClassVar[tuple[str, ...]] = ()
    """Older markups' thumbnail selectors, tried in order only while :attr:`thumbnail` matches nothing.

    The first selector that matches on a results page is used for the whole query, so two
    generations of markup on one page are never counted twice.
    """
    preview_image: ClassVar[str | None] = None
    """The full-size ``<img>`` shown after a thumbnail is clicked."""
    preview_link: ClassVar[str | None] = None
    """An ``<a>`` whose ``href`` is the page the full-size image is on."""
    placeholder_markers: ClassVar[tuple[str, ...]] = ()
    """Substrings of preview ``src`` values that are still a thumbnail, not the full image."""
    more_results: ClassVar[str | None] = None
    """The "show more results" button that must be clicked to keep loading."""
    end_of_results: ClassVar[str | None] = None
    """An element that appears when there is nothing more to load."""
    no_results: ClassVar[str | None] = None
    """An element that appears when the query found nothing at all."""
    consent_buttons: ClassVar[tuple[str, ...]] = ()
    """Cookie/consent buttons to click once if they appear, by attribute or id (never by label text)."""
    blocked_markers: ClassVar[tuple[str, ...]] = ()
    """Elements of the site's captcha / "unusual traffic" page."""
    blocked_url_parts: ClassVar[tuple[str, ...]] = ()
    """Substrings of the URL the site redirects to when it blocks automated traffic."""
    site_hosts: ClassVar[tuple[str, ...]] = ()
    """Host names (``*.`` wildcards allowed) the browser must resolve to use the real site."""

    def __init__(self, base_url: str | None = None) -> None:
        base = base_url or self.default_base_url
        if not base:
            raise EngineError(f"engine {self.name!r} needs --base-url (the site's address)")
        self.base_url = base.rstrip("/")
        self._previous: str | None = None

    @property
    def thumbnail_selectors(self) -> tuple[str, ...]:
        """:attr:`thumbnail` then :attr:`fallback_thumbnails`, in the order they are tried."""
        return (self.thumbnail, *self.fallback_thumbnails)

    @property
    def browser_hosts(self) -> tuple[str, ...]:
        """Hosts the browser may resolve: none for a loopback ``base_url``, else the site's own hosts."""
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        return () if host == "127.0.0.1" or host.startswith("127.") else self.site_hosts

    def search_url(self, query: str) -> str:
        """The results page URL for ``query``."""
        return self.base_url + self.search_path.format(query=urllib.parse.quote_plus(query))

    def start_query(self) -> None:
        """Forget per-query state before a new results page is opened."""
        self._previous = None

    def click(self, driver: WebDriver, element: WebElement) -> None:
        """Scroll ``element`` into view and click it like a user; fall back to a script click if covered."""
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        try:
            element.click()
        except (ElementClickInterceptedException, ElementNotInteractableException):
            driver.execute_script("arguments[0].click();", element)

    def resolve(self, driver: WebDriver, thumbnail: WebElement, timeout: float, pace: Callable[[], None]) -> Candidate | None:
        """Click ``thumbnail`` and wait up to ``timeout`` s for the preview's full-size URL.

        ``pace()`` is called right before the click, so the search site sees the politeness
        interval between browser actions; an adapter that finds the URL without touching the page
        (Bing) does not call it. Returns ``None`` if no full-size URL appears in time (the
        result is then skipped).
        """
        if self.preview_image is None:
            raise NotImplementedError(f"{type(self).__name__} must set preview_image or override resolve()")
        try:
            thumb_src = driver.execute_script(_THUMB_SRC_JS, thumbnail)
            pace()
            self.click(driver, thumbnail)
        except StaleElementReferenceException:
            return None
        found = self.wait_for_preview(driver, timeout, _PREVIEW_JS, self.preview_image, self.preview_link,
                                      list(self.placeholder_markers), thumb_src, self._previous)
        return None if found is None else Candidate(image_url=found[0], page_url=found[1])

    def wait_for_preview(self, driver: WebDriver, timeout: float, script: str, *args) -> tuple[str, str] | None:
        """Poll ``script`` (with ``args``) until it returns ``[full-size URL, page URL]``; remember the URL.

        ``None`` after ``timeout`` s: the preview never showed a new full-size image.
        """
        try:
            found = WebDriverWait(driver, timeout, poll_frequency=POLL).until(lambda d: d.execute_script(script, *args))
        except TimeoutException:
            return None
        self._previous = found[0]
        return found[0], found[1]
