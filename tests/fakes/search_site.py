"""A fake image-search site on 127.0.0.1 that behaves like the real ones, for the scraper's tests.

Served by a stdlib ``ThreadingHTTPServer`` in a thread (port 0). Pages:

* ``GET /search?q=QUERY``: the results page. Thumbnails arrive in batches of ``batch`` from
  ``/api/results`` when the results' bottom is scrolled into view; after ``batches_per_button``
  batches a "Show more results" button (``#more``) must be clicked to go on; ``#end`` appears when
  everything is shown, ``#no-results`` for an unknown query. Clicking a thumbnail shows the
  thumbnail in the preview (``#preview img.full``) at once and the full-size URL (plus the
  ``a.visit`` page link) after ``reveal_delay`` seconds.
* ``GET /thumb/KEY.png``, ``GET /img/KEY`` (the full-size image, served as its :class:`FakeImage`
  says: status, content type, delay, with or without Content-Length), ``GET /page/KEY``.
* The same results in the real engines' markup (``tests/fakes/engine_markup.py``), for their
  adapters: ``GET /google/search`` (today's Google Images, with embedded page data; a German
  consent dialog first if :attr:`FakeSearchSite.google_consent`; a redirect to the captcha page
  ``/google/sorry/index`` if :attr:`FakeSearchSite.google_blocked`), ``GET
  /google-legacy/search`` (the 2024-25 markup) and ``GET /bing/images/search``. Point an adapter
  at them with ``base_url=site.url + "/google"`` (or ``/google-legacy``, ``/bing``).
* ``GET /api/log/...``: pages report clicks and consent choices here (204); see :meth:`logged`.
* Any path in :attr:`FakeSearchSite.pages` serves that HTML instead.

Every request is logged with its User-Agent, so tests can tell the browser from the downloader.
The ``photo``/``*_bytes`` helpers generate test images with Pillow: nothing is committed.
"""

from __future__ import annotations

import html
import io
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image, ImageDraw

from tests.fakes import engine_markup


# ---------------------------------------------------------------- generated images
def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A distinct, deterministic RGB "photo": a colour gradient under random shapes."""
    rng = np.random.default_rng(seed)
    width, height = size
    gradient = np.linspace(0, 1, width)[None, :, None] * rng.uniform(-120, 120, 3) + rng.uniform(60, 190, 3)
    image = Image.fromarray(np.clip(np.broadcast_to(gradient, (height, width, 3)), 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x1, y1 = x0 + int(rng.integers(width // 10, width // 2)), y0 + int(rng.integers(height // 10, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return image


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """``image`` encoded in ``fmt`` (JPEG, PNG, WEBP, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    """A JPEG carrying an EXIF Orientation tag (6 = display rotated 90° clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


def noise_png(size: tuple[int, int], seed: int = 0) -> bytes:
    """An incompressible PNG (random pixels), for byte-cap tests."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), "PNG", compress_level=1)


# ---------------------------------------------------------------- the site
@dataclass
class FakeImage:
    """How one full-size URL answers. ``delay`` is waited (interruptibly) before answering."""

    body: bytes
    content_type: str = "image/jpeg"
    status: int = 200
    delay: float = 0.0
    send_length: bool = True
    fail_first: int = 0
    """Answer the first ``fail_first`` requests with HTTP 503 (to test retries)."""
    thumbnail: bytes | None = None
    served: int = 0


@dataclass
class Request:
    """One logged request."""

    path: str
    user_agent: str
    query: str = ""
    time: float = field(default_factory=time.monotonic)


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title} - Fake Images</title>
<style>
  body {{ margin: 0; font-family: sans-serif; }}
  #results {{ display: flex; flex-wrap: wrap; width: 760px; }}
  a.result {{ display: block; width: 170px; height: 170px; margin: 10px; background: #ddd; }}
  a.result img {{ width: 170px; height: 170px; object-fit: cover; }}
  #more {{ display: none; margin: 20px; font-size: 18px; }}
  #end, #no-results {{ display: none; margin: 20px; }}
  #footer {{ height: 1400px; }}
  #preview {{ position: fixed; right: 0; top: 0; width: 400px; height: 100%; background: #f4f4f4; }}
  #preview img.full {{ max-width: 380px; }}
</style></head>
<body>
<div id="results"></div>
<button id="more" type="button">Show more results</button>
<div id="end">Looks like you've reached the end</div>
<div id="no-results">Your search did not match any images</div>
<div id="footer"></div>
<div id="preview"><img class="full" alt=""><a class="visit">Visit page</a></div>
<script>
const QUERY = {query};
const BATCH = {batch}, BATCHES_PER_BUTTON = {per_button}, REVEAL_DELAY_MS = {reveal_ms};
const results = document.getElementById('results'), more = document.getElementById('more');
const full = document.querySelector('#preview img.full'), visit = document.querySelector('#preview a.visit');
let offset = 0, total = null, loading = false, batches = 0, needButton = false, timer = null;

function resultsBottomVisible() {{
  return results.getBoundingClientRect().bottom < window.innerHeight + 200;
}}
function show(link) {{
  clearTimeout(timer);
  full.src = link.querySelector('img').src;          // the thumbnail first, like the real sites
  visit.removeAttribute('href');
  timer = setTimeout(() => {{ full.src = link.dataset.full; visit.href = link.dataset.page; }}, REVEAL_DELAY_MS);
}}
async function load() {{
  if (loading || needButton || (total !== null && offset >= total)) return;
  loading = true;
  const response = await fetch(`/api/results?q=${{encodeURIComponent(QUERY)}}&offset=${{offset}}&n=${{BATCH}}`);
  const data = await response.json();
  total = data.total;
  for (const item of data.items) {{
    const link = document.createElement('a');
    link.className = 'result'; link.href = '#';
    link.dataset.full = item.full; link.dataset.page = item.page;
    const img = document.createElement('img'); img.src = item.thumb; link.appendChild(img);
    link.addEventListener('click', (event) => {{ event.preventDefault(); show(link); }});
    results.appendChild(link);
  }}
  offset += data.items.length; batches += 1; loading = false;
  if (total === 0) document.getElementById('no-results').style.display = 'block';
  else if (offset >= total) document.getElementById('end').style.display = 'block';
  else if (batches % BATCHES_PER_BUTTON === 0) {{ needButton = true; more.style.display = 'block'; }}
  else if (resultsBottomVisible()) load();
}}
window.addEventListener('scroll', () => {{ if (resultsBottomVisible()) load(); }});
more.addEventListener('click', () => {{ more.style.display = 'none'; needButton = false; load(); }});
load();
</script></body></html>
"""


class FakeSearchSite:
    """The fake image search. Add results with :meth:`add`, then use :attr:`url` as ``--base-url``.

    >>> with FakeSearchSite() as site:                     # doctest: +SKIP
    ...     site.add("tidy room", "a", FakeImage(encode(photo(1))))
    """

    def __init__(self, *, batch: int = 6, batches_per_button: int = 2, reveal_delay: float = 0.08) -> None:
        self.batch = batch
        self.batches_per_button = batches_per_button
        self.reveal_delay = reveal_delay
        self.results: dict[str, list[str]] = {}
        self.images: dict[str, FakeImage] = {}
        self.requests: list[Request] = []
        self.pages: dict[str, str] = {}
        self.google_consent = False
        self.google_blocked = False
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, with the literal loopback address (never ``localhost``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, query: str, key: str, image: FakeImage) -> None:
        """Append a result for ``query`` whose full-size image is served at ``/img/<key>``."""
        if key in self.images:
            raise ValueError(f"duplicate key {key!r}")
        self.images[key] = image
        self.results.setdefault(query, []).append(key)

    def image_url(self, key: str) -> str:
        """The full-size URL of ``key``."""
        return f"{self.url}/img/{key}"

    def downloads(self, agent_contains: str) -> list[str]:
        """Keys of ``/img/`` requests whose User-Agent contains ``agent_contains``, in order."""
        with self._lock:
            return [r.path[len("/img/"):] for r in self.requests if r.path.startswith("/img/") and agent_contains in r.user_agent]

    def logged(self, name: str) -> list[dict[str, str]]:
        """The query parameters of every ``/api/log/<name>`` report, in order."""
        with self._lock:
            return [dict(urllib.parse.parse_qsl(r.query)) for r in self.requests if r.path == f"/api/log/{name}"]

    def items(self, query: str) -> list[dict[str, str]]:
        """``query``'s results as the engine pages show them: key, absolute thumb/full/page URLs."""
        return [{"key": k, "thumb": f"{self.url}/thumb/{k}.png", "full": self.image_url(k), "page": f"{self.url}/page/{k}"}
                for k in self.results.get(query, [])]

    def start(self) -> "FakeSearchSite":
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release delayed responses."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeSearchSite":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------ request handling
    def _thumbnail(self, key: str) -> bytes:
        image = self.images[key]
        if image.thumbnail is None:
            try:
                picture = Image.open(io.BytesIO(image.body))
                picture.thumbnail((96, 96))
                image.thumbnail = encode(picture.convert("RGB"), "PNG")
            except Exception:  # noqa: BLE001 - broken test images get a grey placeholder
                image.thumbnail = encode(Image.new("RGB", (96, 96), (128, 128, 128)), "PNG")
        return image.thumbnail

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, body: bytes, content_type: str, *, length: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-store")
                if length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                parsed = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(parsed.query)
                with site._lock:
                    site.requests.append(Request(parsed.path, self.headers.get("User-Agent", ""), parsed.query))
                path = parsed.path
                query = params.get("q", [""])[0]
                html_type = "text/html; charset=utf-8"
                if path in site.pages:
                    self._send(200, site.pages[path].encode(), html_type)
                elif path == "/google/search" and site.google_blocked:
                    self._redirect("/google/sorry/index?continue=" + urllib.parse.quote(site.url + self.path, safe=""))
                elif path == "/google/search":
                    page = engine_markup.google_page(query, site.items(query), batch=site.batch,
                                                     reveal_delay=site.reveal_delay, consent=site.google_consent)
                    self._send(200, page.encode(), html_type)
                elif path == "/google/sorry/index":
                    self._send(429, engine_markup.google_sorry_page(params.get("continue", [""])[0]).encode(), html_type)
                elif path == "/google-legacy/search":
                    page = engine_markup.google_legacy_page(site.items(query), reveal_delay=site.reveal_delay)
                    self._send(200, page.encode(), html_type)
                elif path == "/bing/images/search":
                    self._send(200, engine_markup.bing_page(site.items(query)).encode(), html_type)
                elif path.startswith("/api/log/"):
                    self._send(204, b"", "text/plain")
                elif path == "/search":
                    query = params.get("q", [""])[0]
                    page = _PAGE.format(title=html.escape(query), query=json.dumps(query), batch=site.batch,
                                        per_button=site.batches_per_button, reveal_ms=int(site.reveal_delay * 1000))
                    self._send(200, page.encode(), "text/html; charset=utf-8")
                elif path == "/api/results":
                    keys = site.results.get(params.get("q", [""])[0], [])
                    offset, count = int(params["offset"][0]), int(params["n"][0])
                    items = [{"thumb": f"/thumb/{k}.png", "full": site.image_url(k), "page": f"{site.url}/page/{k}",
                              "docid": engine_markup.doc_id(k)} for k in keys[offset : offset + count]]
                    self._send(200, json.dumps({"items": items, "total": len(keys)}).encode(), "application/json")
                elif path.startswith("/thumb/") and path[7:-4] in site.images:
                    self._send(200, site._thumbnail(path[7:-4]), "image/png")
                elif path.startswith("/img/") and path[5:] in site.images:
                    image = site.images[path[5:]]
                    with site._lock:
                        image.served += 1
                        failing = image.served <= image.fail_first
                    if failing:
                        self._send(503, b"busy", "text/plain")
                        return
                    if image.delay and site._stopping.wait(image.delay):
                        return
                    self._send(image.status, image.body, image.content_type, length=image.send_length)
                elif path.startswith("/page/"):
                    self._send(200, f"<html><body>page {html.escape(path[6:])}</body></html>".encode(), "text/html")
                else:
                    self._send(404, b"<html><body>not found</body></html>", "text/html")

        return Handler
