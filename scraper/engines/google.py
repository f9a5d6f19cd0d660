"""Google Images. Every selector and URL for Google lives here.

Selectors are Google's obfuscated class names as publicly observed in 2024-2025 results pages
(``H8Rx8c``/``YQ4gaf`` thumbnails, ``sFlh5c ... iPVvYb`` full-size preview); older names that
some regions still serve are listed after a comma. Google changes them without notice: see
"Fixing a broken selector" in ``scraper/README.md``.
"""

from __future__ import annotations

from scraper.engines.base import EngineAdapter


class GoogleImages(EngineAdapter):
    """Google Images: click a thumbnail, read the side panel's full-size ``<img>``."""

    name = "google"
    default_base_url = "https://www.google.com"
    search_path = "/search?q={query}&tbm=isch&hl=en"

    thumbnail = "div.H8Rx8c g-img img.YQ4gaf, img.rg_i.Q4LuWd"
    preview_image = "img.sFlh5c.FyHeAf.iPVvYb, img.sFlh5c.pT0Scc.iPVvYb, img.n3VNCb"
    preview_link = "div.p7sI2 a[href^='http'], a.YsLeY[href^='http']"
    placeholder_markers = ("encrypted-tbn", "gstatic.com/images?q=tbn")
    more_results = "div.LZ4I, input.mye4qd"
    end_of_results = "div.OuJzKb.Yu2Dnd"
    consent_buttons = ("button#L2AGLb", "form[action*='consent'] button[aria-label*='Accept']")
    site_hosts = ("www.google.com", "consent.google.com", "*.gstatic.com")
