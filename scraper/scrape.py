"""``python -m scraper scrape``: keyword file in, labelled image folder + manifest out.

Example::

    python -m scraper scrape --keywords scraper/keywords/rooms.yaml --out data/raw --engine bing

Rerunning the same command resumes: finished queries and known URLs are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from pathlib import Path

from cleanmessy import settings
from scraper.browser import start_browser, start_remote_browser
from scraper.download import DEFAULT_USER_AGENT, FetchSettings
from scraper.engines import ENGINES, get_engine
from scraper.errors import ScraperError
from scraper.keyword_file import load_keywords
from scraper.pipeline import Scraper, ScrapeSettings, Summary

DEFAULTS = ScrapeSettings()
FETCH_DEFAULTS = FetchSettings()


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``scrape`` options to ``parser``."""
    parser.add_argument("--keywords", required=True, type=Path, help="keyword file (.csv or .yaml), see scraper/README.md")
    parser.add_argument("--out", required=True, type=Path, help="output folder: <out>/<label>/*.jpg and <out>/manifest.jsonl")
    settings.add_flag(parser, "SCRAPER_ENGINE", dest="engine", choices=sorted(ENGINES))
    parser.add_argument("--base-url", help="override the engine's address (required for the 'fake' test engine)")
    parser.add_argument("--headful", action="store_true", help="show the browser window (to debug selectors)")
    parser.add_argument("--webdriver-url", metavar="URL",
                        help="drive a remote W3C WebDriver (a Selenium Grid 4 hub such as http://grid:4444, or "
                             "`chromedriver --port=P`) instead of the local Chromium; downloads still run here")
    parser.add_argument("--browsers", type=int, default=1,
                        help="browser sessions working through the keyword list in parallel, each with its own "
                             "--pace (default: %(default)s)")
    for name, dest in (("SCRAPER_WORKERS", "workers"), ("SCRAPER_PACE", "pace"), ("SCRAPER_HOST_INTERVAL", "host_interval")):
        settings.add_flag(parser, name, dest=dest)
    parser.add_argument("--timeout", type=float, default=FETCH_DEFAULTS.timeout, help="seconds allowed per download attempt (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=FETCH_DEFAULTS.retries, help="retries after a timeout, connection error or HTTP 429/5xx (default: %(default)s)")
    parser.add_argument("--backoff", type=float, default=FETCH_DEFAULTS.backoff, help="first retry delay in seconds, doubled each retry (default: %(default)s)")
    parser.add_argument("--max-bytes", type=int, default=FETCH_DEFAULTS.max_bytes, help="largest download accepted (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULTS.max_pixels, help="largest decoded image accepted (default: %(default)s)")
    parser.add_argument("--min-size", type=int, default=DEFAULTS.min_size, help="reject images whose shorter side is smaller; a keyword row's min_size wins (default: %(default)s)")
    parser.add_argument("--size", type=int, default=DEFAULTS.size, help="downscale kept images to this longest side; a keyword row's size wins (default: keep size)")
    parser.add_argument("--dedup-distance", type=int, default=DEFAULTS.dedup_distance, help="perceptual-hash bits within which two images count as duplicates (default: %(default)s)")
    parser.add_argument("--quality", type=int, default=DEFAULTS.quality, help="JPEG quality of kept images (default: %(default)s)")
    parser.add_argument("--resolve-timeout", type=float, default=DEFAULTS.resolve_timeout, help="seconds to wait for a full-size URL after a click (default: %(default)s)")
    parser.add_argument("--load-timeout", type=float, default=DEFAULTS.load_timeout, help="seconds to wait for results to (re)load (default: %(default)s)")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent for image downloads (default: %(default)s)")
    parser.add_argument("--summary-json", type=Path, help="also write the end summary to this JSON file")
    parser.add_argument("--no-progress", action="store_true", help="hide the per-query progress bars")


def settings_from_args(args: argparse.Namespace) -> ScrapeSettings:
    """The :class:`ScrapeSettings` described by parsed ``scrape`` arguments."""
    return ScrapeSettings(
        fetch=FetchSettings(timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                            max_bytes=args.max_bytes, user_agent=args.user_agent),
        workers=settings.resolve(args.workers, "SCRAPER_WORKERS"), min_size=args.min_size, size=args.size,
        max_pixels=args.max_pixels, dedup_distance=args.dedup_distance, quality=args.quality,
        pace=settings.resolve(args.pace, "SCRAPER_PACE"),
        host_interval=settings.resolve(args.host_interval, "SCRAPER_HOST_INTERVAL"),
        resolve_timeout=args.resolve_timeout, load_timeout=args.load_timeout, progress=not args.no_progress,
    )


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Scrape every keyword; print the summary. Returns 0, or 130 if interrupted (rerun to resume)."""
    if args.browsers < 1:
        raise ScraperError(f"--browsers must be at least 1, got {args.browsers}")
    keywords = load_keywords(args.keywords)
    engine = get_engine(settings.resolve(args.engine, "SCRAPER_ENGINE"), args.base_url)
    scraper = Scraper(args.out, engine, settings_from_args(args))
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    interrupted = False
    try:
        with contextlib.ExitStack() as sessions:
            drivers = [sessions.enter_context(_session(args, engine.browser_hosts)) for _ in range(args.browsers)]
            if len(drivers) == 1:
                scraper.run(drivers[0], keywords)
            else:
                scraper.run_parallel(drivers, keywords)
    except KeyboardInterrupt:
        interrupted = True
    finally:  # also report the work done before an error such as a stale selector
        signal.signal(signal.SIGTERM, previous)
        if scraper.summary.queries:
            _report(scraper.summary, args.summary_json)
    if interrupted:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


def _session(args: argparse.Namespace, allowed_hosts: tuple[str, ...]):
    """One browser session: on the remote WebDriver when ``--webdriver-url`` is given, else local Chromium."""
    if args.webdriver_url:
        return start_remote_browser(args.webdriver_url, allowed_hosts=allowed_hosts)
    return start_browser(headful=args.headful, allowed_hosts=allowed_hosts)


def _report(summary: Summary, json_path: Path | None) -> None:
    print(summary.format())
    if json_path:
        json_path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
