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
from scraper.errors import SelectorError

log = logging.getLogger(__name__)

UNRESOLVED_LIMIT = 5
"""If this many thumbnails in a row, from the first, give no full-size URL, the preview selector is stale."""

# Page state in one round trip: thumbnail count and whether the marker/button elements are visible.
_STATE_JS = """
const [thumbSel, moreSel, endSel, noneSel] = arguments;
const visible = (sel) => !!sel && Array.from(document.querySelectorAll(sel)).some(
    (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden');
return {
    count: document.querySelectorAll(thumbSel).length,
    more: visible(moreSel), end: visible(endSel), none: visible(noneSel),
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


def _state(driver: WebDriver, engine: EngineAdapter) -> dict:
    return driver.execute_script(
        _STATE_JS, engine.thumbnail, engine.more_results, engine.end_of_results, engine.no_results
    )


def _accept_consent(driver: WebDriver, engine: EngineAdapter) -> None:
    for selector in engine.consent_buttons:
        for button in driver.find_elements(By.CSS_SELECTOR, selector):
            try:
                if button.is_displayed():
                    button.click()
                    log.info("%s: accepted the consent dialog (%s)", engine.name, selector)
                    return
            except WebDriverException:
                continue


def _wait_for(driver: WebDriver, engine: EngineAdapter, timeout: float, predicate) -> dict:
    """Poll the page state until ``predicate(state)`` holds or ``timeout`` passes; return the last state."""
    last: dict = {}

    def check(d: WebDriver) -> bool:
        nonlocal last
        last = _state(d, engine)
        return predicate(last)

    try:
        WebDriverWait(driver, timeout, poll_frequency=POLL).until(check)
    except TimeoutException:
        pass
    return last


def _load_more(driver: WebDriver, engine: EngineAdapter, seen: int, timeout: float, pacer: Pacer, stats: SearchStats) -> bool:
    """Scroll (and press "more results" if shown) until more than ``seen`` thumbnails exist.

    Returns ``False`` at the end of the results: the end marker is shown, or nothing new loads.
    """
    state = _state(driver, engine)
    for _ in range(3):  # scroll, maybe press the button, then give the page a last chance
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
            state = _wait_for(driver, engine, timeout, lambda s: s["count"] > seen or s["end"])
        else:
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
            state = _wait_for(driver, engine, timeout, lambda s: s["count"] > seen or s["end"] or s["more"])
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
    marker: the engine's markup has most likely changed.
    """
    engine.start_query()
    pacer.wait("browser")
    driver.get(engine.search_url(query))
    _accept_consent(driver, engine)
    state = _wait_for(driver, engine, load_timeout, lambda s: s["count"] > 0 or s["end"] or s["none"])
    if state["count"] == 0:
        if state["end"] or state["none"]:
            stats.reached_end = True
            return
        raise SelectorError(
            f"{engine.name}: no element matched the thumbnail selector {engine.thumbnail!r} on "
            f"{driver.current_url} within {load_timeout:g} s. The site's markup has probably changed: "
            f"update scraper/engines/{engine.name}.py (see 'Fixing a broken selector' in scraper/README.md), "
            f"or rerun with --headful to look at the page"
        )
    thumbnails = driver.find_elements(By.CSS_SELECTOR, engine.thumbnail)
    index = 0
    while True:
        if index >= len(thumbnails):
            if not _load_more(driver, engine, len(thumbnails), load_timeout, pacer, stats):
                return
            thumbnails = driver.find_elements(By.CSS_SELECTOR, engine.thumbnail)
            continue
        thumbnail = thumbnails[index]
        index += 1
        stats.thumbnails += 1
        pacer.wait("browser")
        candidate = engine.resolve(driver, thumbnail, resolve_timeout)
        if candidate is None:
            stats.unresolved += 1
            log.debug("%s: thumbnail %d of %r gave no full-size URL", engine.name, index, query)
            if stats.unresolved == stats.thumbnails == UNRESOLVED_LIMIT:
                raise SelectorError(
                    f"{engine.name}: clicked {UNRESOLVED_LIMIT} thumbnails but none showed a full-size image "
                    f"matching {engine.preview_image!r}. The site's markup has probably changed: update "
                    f"scraper/engines/{engine.name}.py (see 'Fixing a broken selector' in scraper/README.md)"
                )
            continue
        yield candidate
