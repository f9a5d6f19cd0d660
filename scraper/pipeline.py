"""Turn search candidates into kept images: download, check, de-duplicate, save, record.

The browser runs in the calling thread and feeds a bounded thread pool of downloads; finished
downloads are de-duplicated and stored by the calling thread in results order. A query stops
taking candidates once kept + in-flight images reach its ``count``, so the browser never clicks
further than needed. Everything already done (URLs in the manifest or finally
rejected before) is skipped, which makes a rerun resume where the last one stopped.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import urllib.parse
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image
from selenium.webdriver.remote.webdriver import WebDriver
from tqdm import tqdm

from cleanmessy.errors import ImageError
from cleanmessy.images import load_image
from cleanmessy.settings import default as declared_default
from scraper.download import FetchSettings, Rejected, fetch
from scraper.engines.base import Candidate, EngineAdapter
from scraper.imagecheck import decode_checked, encode_jpeg, fit_within
from scraper.keyword_file import Keyword
from cleanmessy.phash import NEAR_DUPLICATE_DISTANCE, HashIndex, from_hex, phash, to_hex
from scraper.search import Pacer, SearchStats, iter_candidates
from scraper.store import ImageFolder, slugify
from scraper.workers import DaemonPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScrapeSettings:
    """Knobs for a scrape; the CLI documents each one (``python -m scraper scrape --help``)."""

    fetch: FetchSettings = field(default_factory=FetchSettings)
    workers: int = declared_default("SCRAPER_WORKERS")
    min_size: int = 128
    size: int | None = None
    max_pixels: int = 40_000_000
    dedup_distance: int = NEAR_DUPLICATE_DISTANCE
    quality: int = 90
    pace: float = declared_default("SCRAPER_PACE")
    host_interval: float = declared_default("SCRAPER_HOST_INTERVAL")
    resolve_timeout: float = 5.0
    load_timeout: float = 10.0
    progress: bool = True


@dataclass
class Summary:
    """Counts for a whole run; ``rejected`` maps reason codes to counts (duplicates apart)."""

    queries: int = 0
    queries_already_complete: int = 0
    thumbnails: int = 0
    more_clicks: int = 0
    found: int = 0
    downloaded: int = 0
    duplicates: int = 0
    seen_before: int = 0
    unresolved: int = 0
    rejected: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        data = asdict(self)
        data["rejected"] = dict(sorted(self.rejected.items()))
        return data

    def format(self) -> str:
        """The end-of-run report printed by the CLI."""
        lines = [
            f"queries:      {self.queries} ({self.queries_already_complete} already complete)",
            f"thumbnails:   {self.thumbnails} clicked, {self.unresolved} without a full-size URL, "
            f"'more results' pressed {self.more_clicks} times",
            f"found:        {self.found} full-size URLs",
            f"downloaded:   {self.downloaded} kept",
            f"duplicates:   {self.duplicates}",
            f"seen before:  {self.seen_before} (kept or rejected by an earlier run, or repeated)",
            f"rejected:     {sum(self.rejected.values())}",
        ]
        lines += [f"  {reason:<12} {count}" for reason, count in sorted(self.rejected.items())]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Prepared:
    """A downloaded image that passed every check except de-duplication."""

    jpeg: bytes
    phash: int
    width: int
    height: int
    source_bytes: int
    content_type: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Scraper:
    """Scrapes keywords into an :class:`ImageFolder` with one engine adapter."""

    def __init__(self, out_dir: str | Path, engine: EngineAdapter, settings: ScrapeSettings = ScrapeSettings()) -> None:
        self.folder = ImageFolder.open(out_dir)
        self.engine = engine
        self.settings = settings
        self.summary = Summary()
        self._hashes = HashIndex()
        self._browser_pacer = Pacer(settings.pace)
        self._host_pacer = Pacer(settings.host_interval)
        self._done_urls: set[str] = set()
        self._lock = threading.RLock()  # shared state (index, folder, summary) when several browsers run
        self._index_existing()

    def _index_existing(self) -> None:
        """Load hashes and finished URLs from the manifest; hash images added without one."""
        for record in self.folder.records:
            self._hashes.add(from_hex(record["phash"]), record["file"])
            self._done_urls.add(record["source_url"])
        for record in self.folder.rejected:
            if not record.get("transient"):
                self._done_urls.add(record["source_url"])
        for path in self.folder.untracked_images():
            try:
                image = load_image(path, max_pixels=self.settings.max_pixels, min_side=1)
            except ImageError as error:
                log.warning("%s: %s (ignored for de-duplication)", path, error)
                continue
            self._hashes.add(phash(image), f"{path.parent.name}/{path.name}")

    def kept_for(self, keyword: Keyword) -> int:
        """Images already in the manifest for this query and label."""
        return sum(1 for r in self.folder.records if r["query"] == keyword.query and r["label"] == keyword.label)

    def run(self, driver: WebDriver, keywords: Iterable[Keyword]) -> Summary:
        """Scrape every keyword in turn with ``driver``; return the run's :class:`Summary`."""
        for keyword in keywords:
            self.scrape_query(driver, keyword)
        return self.summary

    def run_parallel(self, drivers: Sequence[WebDriver], keywords: Iterable[Keyword]) -> Summary:
        """Scrape the keywords with several browser sessions at once, each taking the next keyword.

        Every session keeps its own pace; downloads, de-duplication and the manifest stay shared,
        so the folder is the same as one browser's, except that which of two near-duplicates
        from *different* queries is kept depends on which query got there first.
        """
        pending = iter(list(keywords))
        take = threading.Lock()

        def session(driver: WebDriver) -> None:
            pacer = Pacer(self.settings.pace)
            while True:
                with take:
                    keyword = next(pending, None)
                if keyword is None:
                    return
                self.scrape_query(driver, keyword, pacer=pacer)

        with ThreadPoolExecutor(len(drivers), thread_name_prefix="browser") as sessions:
            for done in [sessions.submit(session, driver) for driver in drivers]:
                done.result()  # re-raise the first session's error (e.g. a stale selector)
        return self.summary

    def scrape_query(self, driver: WebDriver, keyword: Keyword, *, pacer: Pacer | None = None) -> int:
        """Keep up to ``keyword.count`` images for one query (counting earlier runs); return how many are kept.

        Downloads run in the pool; results are committed in results order, so when two results
        are near-duplicates the higher-ranked one is kept, whatever finished first.
        """
        with self._lock:
            self.summary.queries += 1
            kept = self.kept_for(keyword)
            if kept >= keyword.count:
                self.summary.queries_already_complete += 1
                return kept
        stats = SearchStats()
        bar = tqdm(total=keyword.count, initial=kept, desc=keyword.query[:30], unit="img", disable=not self.settings.progress)
        queue: deque[tuple[Candidate, Future]] = deque()
        max_queued = 2 * self.settings.workers

        def commit_head() -> None:
            nonlocal kept
            candidate, future = queue.popleft()
            future.exception()  # wait outside the lock, so other sessions keep committing
            with self._lock:
                committed = self._commit(keyword, candidate, future)
            if committed:
                kept += 1
                bar.update(1)
            bar.set_postfix(dup=self.summary.duplicates, rejected=sum(self.summary.rejected.values()), refresh=False)

        candidates = iter_candidates(
            driver, self.engine, keyword.query, pacer=pacer or self._browser_pacer, stats=stats,
            resolve_timeout=self.settings.resolve_timeout, load_timeout=self.settings.load_timeout,
        )
        pool = DaemonPool(self.settings.workers, name="download")
        try:
            for candidate in candidates:
                with self._lock:
                    self.summary.found += 1
                    seen = candidate.image_url in self._done_urls
                    self.summary.seen_before += seen
                    self._done_urls.add(candidate.image_url)
                if seen:
                    continue
                queue.append((candidate, pool.submit(self._prepare, keyword, candidate)))
                # Commit what is finished; block on the oldest download while there is no room for more.
                while queue and (queue[0][1].done() or kept + len(queue) >= keyword.count or len(queue) >= max_queued):
                    commit_head()
                if kept >= keyword.count:
                    break
            while queue:
                commit_head()
        finally:
            candidates.close()
            for _, future in queue:  # only left over when interrupted
                future.cancel()
            pool.close()
            bar.close()
            with self._lock:
                self.summary.thumbnails += stats.thumbnails
                self.summary.unresolved += stats.unresolved
                self.summary.more_clicks += stats.more_clicks
        if kept < keyword.count:
            log.info("%r: kept %d of %d (results ended)", keyword.query, kept, keyword.count)
        return kept

    def _prepare(self, keyword: Keyword, candidate: Candidate) -> _Prepared:
        """Worker thread: download, decode, check, resize, encode and hash one candidate."""
        settings = self.settings
        self._host_pacer.wait(urllib.parse.urlsplit(candidate.image_url).netloc)
        body, content_type = fetch(candidate.image_url, settings.fetch, referer=candidate.page_url)
        image = decode_checked(
            body, min_side=keyword.min_size or settings.min_size,
            max_pixels=settings.max_pixels, max_bytes=settings.fetch.max_bytes,
        )
        image = fit_within(image, keyword.size or settings.size)
        jpeg = encode_jpeg(image, settings.quality)
        with Image.open(io.BytesIO(jpeg)) as stored:  # hash the pixels as saved, so the file can be re-checked
            value = phash(stored)
        return _Prepared(jpeg=jpeg, phash=value, width=image.width, height=image.height,
                         source_bytes=len(body), content_type=content_type)

    def _commit(self, keyword: Keyword, candidate: Candidate, future: Future) -> bool:
        """Main thread: de-duplicate and store a prepared image, or record its rejection. True if kept."""
        try:
            prepared: _Prepared = future.result()
            match = self._hashes.nearest(prepared.phash, self.settings.dedup_distance)
            if match is not None:
                raise Rejected("duplicate", f"{match[1]} bits from {match[0]}")
        except Rejected as rejected:
            self._reject(keyword, candidate, rejected)
            return False
        digest = hashlib.sha256(prepared.jpeg).hexdigest()
        relative = f"{keyword.label}/{slugify(keyword.query)}-{digest[:12]}.jpg"
        self._hashes.add(prepared.phash, relative)
        self.folder.commit({
            "file": relative, "label": keyword.label, "query": keyword.query, "engine": self.engine.name,
            "source_url": candidate.image_url, "page_url": candidate.page_url,
            "sha256": digest, "phash": to_hex(prepared.phash), "width": prepared.width, "height": prepared.height,
            "bytes": len(prepared.jpeg), "source_bytes": prepared.source_bytes,
            "content_type": prepared.content_type, "time": _now(),
        }, prepared.jpeg)
        self.summary.downloaded += 1
        return True

    def _reject(self, keyword: Keyword, candidate: Candidate, rejected: Rejected) -> None:
        if rejected.reason == "duplicate":
            self.summary.duplicates += 1
        else:
            self.summary.rejected[rejected.reason] += 1
        if rejected.transient:
            self._done_urls.discard(candidate.image_url)
        self.folder.add_rejection({
            "query": keyword.query, "label": keyword.label, "engine": self.engine.name,
            "source_url": candidate.image_url, "page_url": candidate.page_url,
            "reason": rejected.reason, "detail": rejected.detail, "transient": rejected.transient,
            "time": _now(),
        })
        log.debug("rejected %s: %s", candidate.image_url, rejected)
