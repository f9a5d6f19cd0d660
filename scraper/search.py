"""Walk one results page: click thumbnails in order, scroll for more, press "more results", stop at the end.

:func:`iter_candidates` is a lazy generator: the caller takes candidates only while it still
needs images, so the browser never clicks further than necessary.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from scraper.engines.base import POLL, Candidate, EngineAdapter
from scraper.errors import BlockedError, SelectorError

log = logging.getLogger(__name__)

UNRESOLVED_LIMIT = 5
"""If this many thumbnails in a row, from the first, give no full-size URL, the preview selector is stale."""

# Page state in one round trip: the count of the first thumbnail selector that matches anything
# (and which one it was), whether the marker/button elements are visible, whether a consent
# dialog is up, and whether the page is the site's captcha / "unusual traffic" page.
_STATE_JS = """
const [thumbSels, moreSel, endSel, noneSel, consentSels, blockedSels, blockedUrlParts] = arguments;
const visible = (sel) => !!sel && Array.from(document.querySelectorAll(sel)).some(
    (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
let which = -1, count = 0;
for (let i = 0; i < thumbSels.length; i++) {
    const n = document.querySelectorAll(thumbSels[i]).length;
    if (n > 0) { which = i; count = n; break; }
}
return {
    count: count, which: which,
    more: visible(moreSel), end: visible(endSel), none: visible(noneSel),
    consent: consentSels.some(visible),
    blocked: blockedUrlParts.some((part) => location.href.includes(part))
        || blockedSels.some((sel) => document.querySelector(sel) !== null),
};
"""


class Pacer:
    """Keeps at least ``interval`` seconds between actions that share a key (thread-safe)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, key: str) -> None:
        """Sleep until ``key``'s next slot, and book the one after it."""
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self.interval
        time.sleep(max(0.0, slot - now))


@dataclass
class SearchStats:
    """What the browser saw for one query."""

    thumbnails: int = 0
    unresolved: int = 0
    more_clicks: int = 0
    reached_end: bool = False


class _Page:
    """One results page as the walker sees it; fixes the thumbnail selector once one matches."""

    def __init__(self, driver: WebDriver, engine: EngineAdapter) -> None:
        self.driver = driver
        self.engine = engine
        self.thumbnail_selectors = engine.thumbnail_selectors

    @property
    def thumbnail_selector(self) -> str:
        """The selector in use (the adapter's first one until the page shows thumbnails)."""
        return self.thumbnail_selectors[0]

    def state(self) -> dict:
        """The page state (see ``_STATE_JS``); the first matching thumbnail selector is kept for good."""
        engine = self.engine
        state = self.driver.execute_script(
            _STATE_JS, list(self.thumbnail_selectors), engine.more_results, engine.end_of_results,
            engine.no_results, list(engine.consent_buttons), list(engine.blocked_markers),
            list(engine.blocked_url_parts),
        )
        if state["which"] >= 0 and len(self.thumbnail_selectors) > 1:
            chosen = self.thumbnail_selectors[state["which"]]
            if chosen != engine.thumbnail:
                log.info("%s: using the fallback thumbnail selector %r", engine.name, chosen)
            self.thumbnail_selectors = (chosen,)
        return state

    def thumbnails(self) -> list:
        """Every thumbnail element on the page, in page order."""
        return self.driver.find_elements(By.CSS_SELECTOR, self.thumbnail_selector)


def _accept_consent(page: _Page) -> bool:
    """Click the first visible consent button; True if one was clicked."""
    for selector in page.engine.consent_buttons:
        for button in page.driver.find_elements(By.CSS_SELECTOR, selector):
            try:
                if button.is_displayed():
                    page.engine.click(page.driver, button)
                    log.info("%s: answered the consent dialog (%s)", page.engine.name, selector)
                    return True
            except WebDriverException:
                continue
    return False


def blocked_message(engine: EngineAdapter, url: str) -> str:
    """What to tell the user when ``engine`` answers with a captcha / "unusual traffic" page."""
    other = "google" if engine.name == "bing" else "bing"
    return (
        f"{engine.name}: the site answered with a captcha ('unusual traffic') page instead of results "
        f"({url}): it has flagged this IP address as automated. Scraping more from here only extends the "
        f"block. Wait (such blocks usually lift within hours), then: slow down (--pace 2 or more, fewer "
        f"queries per run); or scrape with --engine {other}; or drive the browsers on a Selenium Grid whose "
        f"nodes have other IP addresses (--webdriver-url). Everything kept so far is saved; rerun to resume."
    )


def _raise_if_blocked(page: _Page, state: dict) -> None:
    if state.get("blocked"):
        raise BlockedError(blocked_message(page.engine, page.driver.current_url))


def _wait_for(page: _Page, timeout: float, predicate) -> dict:
    """Poll the page state until ``predicate(state)`` holds or ``timeout`` passes; return the last state."""
    last: dict = {}

    def check(_: WebDriver) -> bool:
        nonlocal last
        last = page.state()
        return predicate(last)

    try:
        WebDriverWait(page.driver, timeout, poll_frequency=POLL).until(check)
    except TimeoutException:
        pass
    return last


def _load_more(page: _Page, seen: int, timeout: float, pacer: Pacer, stats: SearchStats) -> bool:
    """Scroll (and press "more results" if shown) until more than ``seen`` thumbnails exist.

    Returns ``False`` at the end of the results: the end marker is shown, or nothing new loads.
    Raises :class:`BlockedError` if the site switched to its captcha page.
    """
    driver, engine = page.driver, page.engine
    state = page.state()
    for _ in range(3):  # scroll, maybe press the button, then give the page a last chance
        _raise_if_blocked(page, state)
        if state["count"] > seen:
            return True
        if state["end"]:
            stats.reached_end = True
            return False
        pacer.wait("browser")
        buttons = []
        if state["more"]:
            buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, engine.more_results) if b.is_displayed()]
        if buttons:
            engine.click(driver, buttons[0])
            stats.more_clicks += 1
            state = _wait_for(page, timeout, lambda s: s["count"] > seen or s["end"] or s["blocked"])
        else:
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
            state = _wait_for(page, timeout, lambda s: s["count"] > seen or s["end"] or s["more"] or s["blocked"])
    _raise_if_blocked(page, state)
    if state["count"] > seen:
        return True
    stats.reached_end = bool(state.get("end"))
    if not stats.reached_end:
        log.info("%s: no more results loaded after %d thumbnails; treating it as the end", engine.name, seen)
    return False


def iter_candidates(
    driver: WebDriver,
    engine: EngineAdapter,
    query: str,
    *,
    pacer: Pacer,
    stats: SearchStats,
    resolve_timeout: float = 5.0,
    load_timeout: float = 10.0,
) -> Iterator[Candidate]:
    """Yield full-size image candidates for ``query`` in results order until the results end.

    Raises :class:`SelectorError` if the page shows neither thumbnails nor an end/no-results
    marker (the engine's markup has most likely changed), and :class:`BlockedError` if it is the
    site's captcha / "unusual traffic" page.
    """
    engine.start_query()
    page = _Page(driver, engine)
    pacer.wait("browser")
    driver.get(engine.search_url(query))
    _accept_consent(page)

    def settled(state: dict) -> bool:
        return state["count"] > 0 or state["end"] or state["none"] or state["blocked"]

    state = _wait_for(page, load_timeout, lambda s: settled(s) or s["consent"])
    if state.get("consent") and not settled(state) and _accept_consent(page):  # a dialog drawn after load
        state = _wait_for(page, load_timeout, settled)
    _raise_if_blocked(page, state)
    if state["count"] == 0:
        if state["end"] or state["none"]:
            stats.reached_end = True
            return
        tried = ", ".join(repr(selector) for selector in engine.thumbnail_selectors)
        raise SelectorError(
            f"{engine.name}: no element matched the thumbnail selector{'s' if engine.fallback_thumbnails else ''} {tried} on "
            f"{driver.current_url} within {load_timeout:g} s. The site's markup has probably changed: "
            f"update scraper/engines/{engine.name}.py (see 'Fixing a broken selector' in scraper/README.md), "
            f"or rerun with --headful to look at the page"
        )
    thumbnails = page.thumbnails()
    index = 0
    while True:
        if index >= len(thumbnails):
            if not _load_more(page, len(thumbnails), load_timeout, pacer, stats):
                return
            thumbnails = page.thumbnails()
            continue
        thumbnail = thumbnails[index]
        index += 1
        stats.thumbnails += 1
        candidate = engine.resolve(driver, thumbnail, resolve_timeout, lambda: pacer.wait("browser"))
        if candidate is None:
            stats.unresolved += 1
            log.debug("%s: thumbnail %d of %r gave no full-size URL", engine.name, index, query)
            if stats.unresolved == stats.thumbnails == UNRESOLVED_LIMIT:
                _raise_if_blocked(page, page.state())
                raise SelectorError(
                    f"{engine.name}: clicked {UNRESOLVED_LIMIT} thumbnails but none showed a full-size image "
                    f"matching {engine.preview_image!r}. The site's markup has probably changed: update "
                    f"scraper/engines/{engine.name}.py (see 'Fixing a broken selector' in scraper/README.md)"
                )
            continue
        yield candidate
