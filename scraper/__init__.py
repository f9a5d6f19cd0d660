"""Keyword-driven image-search scraper: a real headless Chromium -> labelled image folder + manifest.

Subcommands (``python -m scraper --help``):

* ``scrape``: drive an image search for every row of a keyword file and download checked,
  de-duplicated images into ``DIR/<label>/`` with ``DIR/manifest.jsonl``;
* ``split``: make ``OUT/train`` and ``OUT/validation`` with near-duplicates kept together;
* ``push``: publish the split folder to the Hub as a dataset (``scraper/push.py``).
"""
