"""Google Images. Every selector and URL for Google lives here.

Markup generations (see "Google's markup over time" in ``scraper/README.md``):

* **Current (since the December 2025 redesign, checked against maintained scrapers in 2026).**
  The results page is ``/search?q=...&udm=2``. Each result tile carries its document id in
  ``data-docid`` and the page it comes from in ``data-lpage``; the first results' full-size URLs
  are in an inline ``<script>`` as arrays ``[..., "DOCID", [thumb, h, w], [full, h, w], ...]``.
  After a click, the preview panel (``[data-lhcontainer]``) holds ``[data-id="DOCID"]`` with the
  full-size ``<img jsname="kn3ccd">`` once that image has loaded. Class names are obfuscated and
  rotate every few months, so this adapter finds everything by attribute first.
* **Legacy (2024-2025)**: class names (``H8Rx8c``/``YQ4gaf`` thumbnails, ``sFlh5c ... iPVvYb``
  preview, ``n3VNCb`` before that), ``tbm=isch``. Kept only as fallbacks for regions still served it.

How a full-size URL is found (:meth:`GoogleImages.resolve`): the tile's doc id is looked up in
the page's embedded data, without clicking; only if it is not there (results loaded by scrolling
are fetched by Google's scripts and never reach the DOM) is the tile clicked and the panel's
``<img>`` read. The embedded data matters beyond speed: the panel's full-size ``<img>`` may only
appear once the real image has loaded, which a slow (or sandboxed) browser may never see.
"""

from __future__ import annotations

from typing import Callable

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from scraper.engines.base import Candidate, EngineAdapter

# Shared by both scripts below: full-size URLs are http(s) and not Google's own gstatic thumbnails.
_IS_FULL_JS = r"""
const isFull = (src, thumbSrc, previous, placeholders) => /^https?:/i.test(src || '')
    && !/^https?:\/\/([^/]*\.)?gstatic\.com\//i.test(src) && src !== thumbSrc && src !== previous
    && !placeholders.some((p) => src.includes(p));
"""

# The tile's doc id, page link and thumbnail src, and the full-size URL the page's embedded data
# gives for that doc id (null if none). The data is scanned once per number of <script>s on the
# page and cached in the page: a map doc id -> full-size URL.
_FROM_PAGE_DATA_JS = _IS_FULL_JS + r"""
const [tile, docIdAttributes, placeholders] = arguments;
const holder = docIdAttributes.map((a) => tile.closest(`[${a}]`)).find((el) => el) || null;
const docId = holder ? docIdAttributes.map((a) => holder.getAttribute(a)).find((v) => v) : null;
const lpageHolder = tile.closest('[data-lpage]');
const page = lpageHolder && /^https?:/i.test(lpageHolder.dataset.lpage) ? lpageHolder.dataset.lpage : null;
const img = tile.tagName === 'IMG' ? tile : tile.querySelector('img');
const thumbSrc = img ? (img.currentSrc || img.src || '') : '';
const decode = (s) => s
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\x([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\\//g, '/');
let cache = window.__scraperPageData;
if (!cache || cache.scripts !== document.scripts.length) {
    const pattern = /"([\w-]+)",\["(https?:[^"]+)",\d+,\d+\],\["(https?:[^"]+)",\d+,\d+\]/g;
    cache = {scripts: document.scripts.length, urls: {}};
    for (const script of document.scripts) {
        if (script.src) continue;
        for (const m of script.textContent.matchAll(pattern)) {
            if (!(m[1] in cache.urls)) cache.urls[m[1]] = decode(m[3]);
        }
    }
    window.__scraperPageData = cache;
}
const full = docId ? cache.urls[docId] : undefined;
return {docId: docId, page: page, thumbSrc: thumbSrc,
        full: full && isFull(full, thumbSrc, null, placeholders) ? full : null};
"""

# After a click: the full-size <img> in the preview panel of this doc id (any panel if the tile
# had none), then the legacy class-named preview. Returns [image URL, page URL] or null.
_FROM_PANEL_JS = _IS_FULL_JS + r"""
const [docId, thumbSrc, previous, placeholders, panelSel, imageSel, linkSel, legacyImageSel, legacyLinkSel] = arguments;
const roots = [];
for (const panel of document.querySelectorAll(panelSel)) {
    if (!docId) { roots.push(panel); continue; }
    for (const el of panel.querySelectorAll('[data-id]')) if (el.getAttribute('data-id') === docId) roots.push(el);
}
const firstHref = (scope, sel) => {
    for (const a of scope.querySelectorAll(sel)) if (/^https?:/i.test(a.href || '')) return a.href;
    return null;
};
for (const root of roots) {
    for (const img of root.querySelectorAll(imageSel)) {
        const src = img.currentSrc || img.src || '';
        if (isFull(src, thumbSrc, previous, placeholders)) {
            const around = img.closest('a[href]');
            const page = around && /^https?:/i.test(around.href) ? around.href : firstHref(root, linkSel);
            return [src, page];
        }
    }
}
for (const img of document.querySelectorAll(legacyImageSel)) {
    const src = img.currentSrc || img.src || '';
    if (isFull(src, thumbSrc, previous, placeholders)) return [src, firstHref(document, legacyLinkSel)];
}
return null;
"""


class GoogleImages(EngineAdapter):
    """Google Images: the full-size URL from the page's embedded data by doc id, else from the preview panel."""

    name = "google"
    default_base_url = "https://www.google.com"
    search_path = "/search?q={query}&udm=2"

    thumbnail = "div[data-docid]:not([data-lhcontainer] *)"
    fallback_thumbnails = ("div.H8Rx8c g-img img.YQ4gaf", "img.rg_i.Q4LuWd")  # legacy 2024-25, then older
    doc_id_attributes = ("data-docid", "data-id", "data-tbnid")
    """Where a tile (or its ancestor) keeps its document id, newest markup first."""
    preview_panel = "[data-lhcontainer]"
    preview_image = "img[jsname='kn3ccd']"
    preview_link = "a[aria-describedby][href]"
    legacy_preview_image = "img.sFlh5c.FyHeAf.iPVvYb, img.sFlh5c.pT0Scc.iPVvYb, img.n3VNCb"
    legacy_preview_link = "div.p7sI2 a[href], a.YsLeY[href]"
    placeholder_markers = ("encrypted-tbn", "gstatic.com/images?q=tbn")
    # Legacy only: today's page loads more results on scroll and shows no end marker, so the
    # walker stops when scrolling adds nothing.
    more_results = "div.LZ4I, input.mye4qd"
    end_of_results = "div.OuJzKb.Yu2Dnd"
    consent_buttons = (
        # "Reject all" on consent.google.com (any language): the form that sets set_eom=true.
        "form[action*='consent']:has(input[name='set_eom'][value='true']) button",
        "form[action*='consent']:has(input[name='set_eom'][value='true']) input[type='submit']",
        "button[name='set_eom'][value='true']",
        "button#W0wltc",  # the in-page dialog's "Reject all"
        "button#L2AGLb",  # its "Accept all", where no reject button is offered
    )
    blocked_url_parts = ("/sorry/",)
    blocked_markers = ("form#captcha-form", "#recaptcha", ".g-recaptcha", "iframe[src*='recaptcha']")
    site_hosts = ("www.google.com", "consent.google.com", "*.gstatic.com")

    def resolve(self, driver: WebDriver, thumbnail: WebElement, timeout: float, pace: Callable[[], None]) -> Candidate | None:
        """The full-size URL for ``thumbnail``'s doc id from the page data, else click and read the panel."""
        markers = list(self.placeholder_markers)
        try:
            tile = driver.execute_script(_FROM_PAGE_DATA_JS, thumbnail, list(self.doc_id_attributes), markers)
        except StaleElementReferenceException:
            return None
        if tile["full"]:
            self._previous = tile["full"]
            return Candidate(image_url=tile["full"], page_url=tile["page"])
        try:
            pace()
            self.click(driver, thumbnail)
        except StaleElementReferenceException:
            return None
        found = self.wait_for_preview(driver, timeout, _FROM_PANEL_JS, tile["docId"], tile["thumbSrc"], self._previous,
                                      markers, self.preview_panel, self.preview_image, self.preview_link,
                                      self.legacy_preview_image, self.legacy_preview_link)
        return None if found is None else Candidate(image_url=found[0], page_url=found[1] or tile["page"])
