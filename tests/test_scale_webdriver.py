"""Scraping through a remote W3C WebDriver, as on a Selenium Grid, with two parallel sessions.

``chromedriver --port=P`` is itself a W3C WebDriver server, so it stands in for a Grid hub on
127.0.0.1. The same keywords scraped by one local browser and by two remote sessions must give
the same images, and the CLI's ``--webdriver-url --browsers 2`` must drive it end to end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from scraper.browser import CHROMEDRIVER, CHROMIUM, start_browser, start_remote_browser
from scraper.download import FetchSettings
from scraper.engines.fake import FakeSearch
from scraper.errors import BrowserError
from scraper.keyword_file import Keyword
from scraper.pipeline import Scraper, ScrapeSettings
from scraper.store import MANIFEST
from tests.fakes.search_site import FakeImage, FakeSearchSite, encode, photo
from tests.helpers import free_port

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("browser tests need `apt-get install chromium chromium-driver`", allow_module_level=True)

SETTINGS = ScrapeSettings(fetch=FetchSettings(timeout=2, retries=0), workers=2, min_size=64, pace=0,
                          host_interval=0, resolve_timeout=3, load_timeout=3, progress=False)
KEYWORDS = [Keyword(f"room query {i}", "clean" if i % 2 else "messy", 4) for i in range(4)]


@pytest.fixture(scope="module")
def site():
    with FakeSearchSite(batch=3, batches_per_button=1, reveal_delay=0.02) as fake:
        for q, keyword in enumerate(KEYWORDS):
            for i in range(5):
                fake.add(keyword.query, f"q{q}-img{i}", FakeImage(encode(photo(1000 + 10 * q + i))))
        yield fake


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A standalone chromedriver on 127.0.0.1: the W3C endpoint a Selenium Grid hub would offer."""
    home = tmp_path_factory.mktemp("chromedriver-home")
    port = free_port()
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"))
    server = subprocess.Popen([CHROMEDRIVER, f"--port={port}", "--allowed-ips=127.0.0.1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


def _kept(out: Path) -> set[tuple[str, str, str]]:
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    return {(r["label"], r["source_url"].rsplit("/", 1)[-1], r["sha256"]) for r in records}


def test_two_remote_sessions_keep_the_same_images_as_one_local_browser(site, grid, tmp_path) -> None:
    with start_browser() as driver:
        Scraper(tmp_path / "local", FakeSearch(site.url), SETTINGS).run(driver, KEYWORDS)
    with start_remote_browser(grid) as first, start_remote_browser(grid) as second:
        assert first.session_id != second.session_id
        summary = Scraper(tmp_path / "grid", FakeSearch(site.url), SETTINGS).run_parallel([first, second], KEYWORDS)
    assert summary.downloaded == 16 and summary.queries == 4
    local = _kept(tmp_path / "local")
    assert len(local) == 16
    assert _kept(tmp_path / "grid") == local


def test_cli_drives_the_grid_with_two_browsers_and_resumes(site, grid, tmp_path) -> None:
    from scraper.__main__ import main

    keywords = tmp_path / "keywords.yaml"
    keywords.write_text(yaml.safe_dump({"defaults": {"min_size": 64},
                                        "queries": [{"query": k.query, "label": k.label, "count": k.count} for k in KEYWORDS]}))
    out = tmp_path / "out"
    args = ["scrape", "--keywords", str(keywords), "--out", str(out), "--engine", "fake", "--base-url", site.url,
            "--webdriver-url", grid, "--browsers", "2", "--pace", "0", "--host-interval", "0", "--no-progress",
            "--summary-json", str(tmp_path / "summary.json")]
    assert main(args) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["downloaded"] == 16
    assert main(args) == 0  # a rerun resumes: every query is already complete
    assert json.loads((tmp_path / "summary.json").read_text())["queries_already_complete"] == 4
    assert len(_kept(out)) == 16


def test_an_unreachable_grid_is_a_clear_error() -> None:
    with pytest.raises(BrowserError, match="cannot reach the WebDriver|no browser session"):
        with start_remote_browser(f"http://127.0.0.1:{free_port()}"):
            pass
