"""Benchmark: scrape 100 images from the loopback fake image search in real headless Chromium.

Run from the repository root::

    python -m bench.scrape_fake [--count 100] [--workers 4] [--pace 0] [--record]

Prints the wall time from browser start to the 100th kept image (acceptance: <= 60 s). The
fake site serves ``count`` 640x480 JPEG photos with one junk result (404 or HTML) every tenth,
in batches of 20 behind scrolling and a "show more results" button, with the full-size URL
revealed 80 ms after each click, like the real sites.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from scraper.browser import start_browser
from scraper.download import FetchSettings
from scraper.engines.fake import FakeSearch
from scraper.keyword_file import Keyword
from scraper.pipeline import Scraper, ScrapeSettings
from tests.fakes.search_site import FakeImage, FakeSearchSite, encode, photo

QUERY = "tidy living room"


def fill(site: FakeSearchSite, count: int) -> int:
    """Add ``count`` good results plus a junk one every tenth; return the number of results."""
    junk = 0
    for i in range(count):
        if i % 10 == 9:
            site.add(QUERY, f"junk{i}", FakeImage(b"<html>gone</html>", "text/html", status=404 if junk % 2 else 200))
            junk += 1
        site.add(QUERY, f"photo{i}", FakeImage(encode(photo(i, (640, 480)), "JPEG", quality=88)))
    return count + junk


def main() -> int:
    """Run the benchmark once and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="images to keep (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=4, help="parallel downloads (default: %(default)s)")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between browser actions (default: %(default)s)")
    parser.add_argument("--record", action="store_true", help="write the result into BENCHMARKS.md (section scrape-fake)")
    args = parser.parse_args()
    settings = ScrapeSettings(fetch=FetchSettings(timeout=5, retries=1, backoff=0.1), workers=args.workers,
                              pace=args.pace, host_interval=0, progress=False)
    with FakeSearchSite(batch=20, batches_per_button=2, reveal_delay=0.08) as site, tempfile.TemporaryDirectory() as out:
        results = fill(site, args.count)
        started = time.perf_counter()
        with start_browser() as driver:
            browser_ready = time.perf_counter()
            summary = Scraper(out, FakeSearch(site.url), settings).run(driver, [Keyword(QUERY, "clean", args.count)])
        elapsed = time.perf_counter() - started
    line = (f"scraped {summary.downloaded} images from {summary.found} of {results} results in {elapsed:.1f} s "
            f"({summary.downloaded / elapsed:.1f} images/s; browser start {browser_ready - started:.1f} s; "
            f"workers={args.workers}, pace={args.pace:g})")
    print(summary.format())
    print(line)
    if args.record:
        from bench.report import write_section

        command = "python -m bench.scrape_fake " + " ".join(sys.argv[1:])
        body = f"{line}\n\nAcceptance: 100 images in at most 60 s.\n\n```\n{summary.format()}\n```"
        write_section("scrape-fake", "Scraper: 100 images from the fake image search", command, body)
    return 0 if summary.downloaded == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
