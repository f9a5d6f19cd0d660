"""Fetch one image URL defensively: deadline, bounded retries with backoff, byte cap, type checks.

Every way a download can fail becomes a :class:`Rejected` with a short ``reason`` code that the
summary counts and ``rejected.jsonl`` records. Transient failures (timeouts, connection errors,
HTTP 429/5xx) are retried and are tried again by a later run; the others are final.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

DEFAULT_USER_AGENT = "clean-or-messy-scraper/1.0 (dataset builder; python-urllib)"

GENERIC_BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")
"""Content types some CDNs use for images: accepted, and the magic bytes decide."""

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"WEBP", 8, "webp"),  # after b"RIFF" + 4 length bytes
    (b"BM", 0, "bmp"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
)


class Rejected(Exception):
    """A candidate image was not kept; ``reason`` is a short code, ``detail`` says why."""

    def __init__(self, reason: str, detail: str = "", *, transient: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.transient = transient


@dataclass(frozen=True)
class FetchSettings:
    """Limits for one download; ``timeout`` is a deadline for the whole response, in seconds."""

    timeout: float = 15.0
    retries: int = 2
    backoff: float = 0.5
    max_bytes: int = 20 * 1024 * 1024
    user_agent: str = DEFAULT_USER_AGENT


def sniff(data: bytes) -> str | None:
    """The image format named by the leading magic bytes, or ``None``."""
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (name != "webp" or data[:4] == b"RIFF"):
            return name
    return None


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) URLs (urllib would also follow ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 (urllib hook)
        if not newurl.lower().startswith(("http://", "https://")):
            raise urllib.error.HTTPError(newurl, code, f"redirect to a non-HTTP URL: {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


def _fetch_once(url: str, referer: str | None, settings: FetchSettings) -> tuple[bytes, str]:
    headers = {"User-Agent": settings.user_agent, "Accept": "image/avif,image/webp,image/*;q=0.9,*/*;q=0.5"}
    if referer:
        headers["Referer"] = referer
    request = urllib.request.Request(url, headers=headers)
    deadline = time.monotonic() + settings.timeout
    try:
        with _OPENER.open(request, timeout=settings.timeout) as response:
            content_type = response.headers.get_content_type()
            if not content_type.startswith("image/") and content_type not in GENERIC_BINARY_TYPES:
                raise Rejected("not_image", f"content type {content_type}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > settings.max_bytes:
                raise Rejected("too_large", f"{int(declared)} bytes declared, limit {settings.max_bytes}")
            body = bytearray()
            while chunk := response.read1(64 * 1024):
                body += chunk
                if len(body) > settings.max_bytes:
                    raise Rejected("too_large", f"over {settings.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise Rejected("timeout", f"not complete after {settings.timeout:g} s", transient=True)
            return bytes(body), content_type
    except urllib.error.HTTPError as error:
        raise Rejected("http_error", f"HTTP {error.code}", transient=error.code in _RETRY_STATUS) from None
    except (TimeoutError, socket.timeout):
        raise Rejected("timeout", f"no data for {settings.timeout:g} s", transient=True) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise Rejected("timeout", f"no answer in {settings.timeout:g} s", transient=True) from None
        raise Rejected("network", str(error.reason), transient=True) from None
    except (http.client.HTTPException, ConnectionError, OSError) as error:
        raise Rejected("network", f"{type(error).__name__}: {error}", transient=True) from None
    except ValueError as error:  # malformed URL
        raise Rejected("bad_url", str(error)) from None


def fetch(url: str, settings: FetchSettings, *, referer: str | None = None) -> tuple[bytes, str]:
    """Download ``url`` and return ``(body, content_type)``; raise :class:`Rejected` on failure.

    Transient failures are retried ``settings.retries`` times, waiting ``backoff``, ``2*backoff``, ...
    The body must start with known image magic bytes.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise Rejected("bad_url", f"not an http(s) URL: {url[:80]}")
    for attempt in range(settings.retries + 1):
        try:
            body, content_type = _fetch_once(url, referer, settings)
            break
        except Rejected as rejected:
            if not rejected.transient or attempt == settings.retries:
                raise
            time.sleep(settings.backoff * 2**attempt)
    if not body:
        raise Rejected("empty", "0 bytes")
    if sniff(body) is None:
        raise Rejected("bad_magic", f"served as {content_type} but starts with {body[:8]!r}")
    return body, content_type
