"""The test adapter for the loopback fake image search in ``tests/fakes/search_site.py``.

It behaves like the real engines (lazy loading on scroll, a "show more results" button, a
preview that shows the thumbnail first and the full-size URL after a delay, an end marker), so
the same scraping code runs against it. It has no default address: pass ``--base-url``.
"""

from __future__ import annotations

from scraper.engines.base import EngineAdapter


class FakeSearch(EngineAdapter):
    """The fake site served on 127.0.0.1 by the tests and ``bench/scrape_fake.py``."""

    name = "fake"
    search_path = "/search?q={query}"

    thumbnail = "#results a.result"
    preview_image = "#preview img.full"
    preview_link = "#preview a.visit"
    placeholder_markers = ("/thumb/",)
    more_results = "#more"
    end_of_results = "#end"
    no_results = "#no-results"
