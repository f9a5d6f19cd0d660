"""Scraper parts that need no browser: keyword files, downloads, image checks, hashes, the store, the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from scraper.__main__ import main
from scraper.download import FetchSettings, Rejected, fetch, sniff
from scraper.engines import ENGINES, get_engine
from scraper.errors import EngineError, KeywordFileError
from scraper.imagecheck import decode_checked, fit_within
from scraper.keyword_file import Keyword, load_keywords
from cleanmessy.phash import NEAR_DUPLICATE_DISTANCE, HashIndex, from_hex, hamming, phash, to_hex
from scraper.store import MANIFEST, STAGING, ImageFolder
from tests.fakes.search_site import FakeImage, FakeSearchSite, encode, jpeg_with_orientation, noise_png, photo

ROOMS = Path(__file__).resolve().parent.parent / "scraper" / "keywords" / "rooms.yaml"


# ---------------------------------------------------------------- keyword files
def test_csv_and_yaml_keyword_files(tmp_path: Path) -> None:
    csv_file = tmp_path / "k.csv"
    csv_file.write_text("query,label,count,min_size,size\ntidy bedroom,clean,40,,\n\nmessy kitchen, Messy ,5,256,512\n")
    assert load_keywords(csv_file) == [
        Keyword("tidy bedroom", "clean", 40),
        Keyword("messy kitchen", "messy", 5, min_size=256, size=512),
    ]
    yaml_file = tmp_path / "k.yaml"
    yaml_file.write_text("defaults: {count: 7, min_size: 100}\nqueries:\n  - {query: a, label: clean}\n  - {query: b, label: messy, count: 2}\n")
    assert load_keywords(yaml_file) == [Keyword("a", "clean", 7, 100), Keyword("b", "messy", 2, 100)]
    plain_list = tmp_path / "k.yml"
    plain_list.write_text("- {query: a, label: clean, count: 1}\n")
    assert load_keywords(plain_list) == [Keyword("a", "clean", 1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("query,label,count\nroom,dirty,3\n", "line 2: unknown label 'dirty'"),
        ("query,label,count\nroom,clean,0\n", "line 2: 'count' must be a positive integer, got 0"),
        ("query,label,count\nroom,clean,many\n", "'count' must be a positive integer, got 'many'"),
        ("query,label,count\nroom,clean,\n", "'count' is required"),
        ("query,label,count\n,clean,3\n", "'query' is required"),
        ("query,label,count\nroom,clean,3\nRoom,messy,3\n", "line 3: query 'Room' repeats"),
        ("query,label,count,colour\nroom,clean,3,red\n", "unknown field(s) colour"),
        ("label,count\nclean,3\n", "the first line must be a header"),
        ("query,label,count\n", "no queries found"),
    ],
)
def test_keyword_file_errors_name_the_row(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "k.csv"
    path.write_text(text)
    with pytest.raises(KeywordFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_keywords(path)


def test_keyword_file_missing_or_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(KeywordFileError, match="not found"):
        load_keywords(tmp_path / "nope.csv")
    (tmp_path / "k.txt").write_text("x")
    with pytest.raises(KeywordFileError, match="use a .csv, .yaml or .yml"):
        load_keywords(tmp_path / "k.txt")


def test_default_room_keywords_cover_both_labels_and_room_types() -> None:
    keywords = load_keywords(ROOMS)
    assert {k.label for k in keywords} == {"clean", "messy"}
    text = " ".join(k.query for k in keywords)
    for room in ("bedroom", "kitchen", "living room", "office", "dorm"):
        assert room in text
    assert all(k.count > 0 and k.min_size for k in keywords)


# ---------------------------------------------------------------- perceptual hash
def test_phash_separates_photos_and_matches_edits() -> None:
    original = photo(1)
    hashes = [phash(photo(seed)) for seed in range(40)]
    unrelated = min(hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :])
    assert unrelated > 2 * NEAR_DUPLICATE_DISTANCE
    edited = ImageEnhance.Brightness(original.resize((250, 188))).enhance(1.08)
    reencoded = Image.open(__import__("io").BytesIO(encode(edited, "JPEG", quality=60)))
    assert hamming(phash(original), phash(reencoded)) <= NEAR_DUPLICATE_DISTANCE
    assert from_hex(to_hex(hashes[3])) == hashes[3] and len(to_hex(0)) == 16


def test_hash_index_nearest() -> None:
    index = HashIndex()
    assert index.nearest(0, 6) is None
    for i in range(100):  # grows past its first allocation
        index.add((0xFFFF << 48) | i << 8, f"k{i}")
    index.add(0b1111, "near-zero")
    assert index.nearest(0, 4) == ("near-zero", 4)
    assert index.nearest(0, 3) is None
    assert len(index) == 101


# ---------------------------------------------------------------- downloads
@pytest.fixture(scope="module")
def site():
    with FakeSearchSite() as fake:
        yield fake


FAST = FetchSettings(timeout=0.5, retries=2, backoff=0.01, max_bytes=200_000)


def _add(site: FakeSearchSite, key: str, image: FakeImage) -> str:
    site.add("downloads", key, image)
    return site.image_url(key)


def test_fetch_accepts_images_and_sends_referer(site: FakeSearchSite) -> None:
    body = encode(photo(2), "PNG")
    data, content_type = fetch(_add(site, "ok-png", FakeImage(body, "image/png")), FAST, referer="http://127.0.0.1/page")
    assert (data, content_type) == (body, "image/png")
    octet = _add(site, "octet", FakeImage(body, "application/octet-stream"))
    assert fetch(octet, FAST)[0] == body


@pytest.mark.parametrize(
    ("key", "image", "reason"),
    [
        ("html-as-jpeg", FakeImage(b"<!doctype html><html>blocked</html>", "image/jpeg"), "bad_magic"),
        ("html-page", FakeImage(b"<html></html>", "text/html"), "not_image"),
        ("gone", FakeImage(b"missing", "text/html", status=404), "http_error"),
        ("big-declared", FakeImage(noise_png((400, 400)), "image/png"), "too_large"),
        ("big-streamed", FakeImage(noise_png((400, 400), seed=1), "image/png", send_length=False), "too_large"),
        ("zero", FakeImage(b"", "image/jpeg"), "empty"),
    ],
)
def test_fetch_rejections(site: FakeSearchSite, key: str, image: FakeImage, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        fetch(_add(site, key, image), FAST)
    assert caught.value.reason == reason
    assert not caught.value.transient
    assert site.images[key].served == 1  # final failures are not retried


def test_fetch_retries_transient_errors_with_backoff(site: FakeSearchSite) -> None:
    body = encode(photo(3))
    url = _add(site, "flaky", FakeImage(body, fail_first=2))
    assert fetch(url, FAST)[0] == body
    assert site.images["flaky"].served == 3
    url = _add(site, "down", FakeImage(body, fail_first=99))
    with pytest.raises(Rejected) as caught:
        fetch(url, FAST)
    assert (caught.value.reason, caught.value.detail, caught.value.transient) == ("http_error", "HTTP 503", True)
    assert site.images["down"].served == 3  # 1 try + 2 retries


def test_fetch_times_out_within_bounds(site: FakeSearchSite) -> None:
    url = _add(site, "slow", FakeImage(encode(photo(4)), delay=5))
    settings = FetchSettings(timeout=0.3, retries=1, backoff=0.05)
    started = time.monotonic()
    with pytest.raises(Rejected) as caught:
        fetch(url, settings)
    assert caught.value.reason == "timeout" and caught.value.transient
    assert time.monotonic() - started < 2.0


def test_fetch_refuses_non_http_urls() -> None:
    for url in ("file:///etc/passwd", "data:image/png;base64,AAAA", "ftp://127.0.0.1/x.jpg"):
        with pytest.raises(Rejected, match="bad_url"):
            fetch(url, FAST)


def test_sniff_magic_bytes() -> None:
    assert sniff(encode(photo(0), "JPEG")) == "jpeg"
    assert sniff(encode(photo(0), "PNG")) == "png"
    assert sniff(encode(photo(0), "WEBP")) == "webp"
    assert sniff(encode(photo(0), "GIF")) == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff(b"<html>") is None


# ---------------------------------------------------------------- image checks
def test_decode_checked_applies_exif_and_maps_errors() -> None:
    upright = decode_checked(jpeg_with_orientation(photo(5, (300, 200)), 6), min_side=64, max_pixels=10**7, max_bytes=10**7)
    assert upright.size == (200, 300) and upright.mode == "RGB"
    rgba = Image.new("RGBA", (100, 100), (255, 0, 0, 0))
    assert decode_checked(encode(rgba, "PNG"), min_side=64, max_pixels=10**7, max_bytes=10**7).getpixel((5, 5)) == (255, 255, 255)
    cases = [
        (encode(photo(6, (40, 40)), "PNG"), "too_small"),
        (encode(photo(6, (400, 400)), "PNG"), "too_large"),  # over max_pixels below
        (encode(photo(7))[:3000], "corrupt"),
        (b"\xff\xd8\xff" + b"\x00" * 50, "corrupt"),  # a JPEG signature, then garbage: a damaged JPEG
        (b"<html><body>a page</body></html>", "undecodable"),
    ]
    for data, reason in cases:
        with pytest.raises(Rejected) as caught:
            decode_checked(data, min_side=64, max_pixels=100_000, max_bytes=10**7)
        assert caught.value.reason == reason, data[:10]


def test_fit_within_only_shrinks() -> None:
    assert fit_within(photo(1, (800, 400)), 200).size == (200, 100)
    assert fit_within(photo(1, (100, 50)), 200).size == (100, 50)
    assert fit_within(photo(1, (100, 50)), None).size == (100, 50)


# ---------------------------------------------------------------- the store
def _record(file: str, url: str) -> dict:
    return {"file": file, "label": file.split("/")[0], "query": "q", "source_url": url, "phash": "0" * 16}


def test_store_repairs_what_a_killed_run_left(tmp_path: Path) -> None:
    folder = ImageFolder.open(tmp_path)
    folder.commit(_record("clean/a.jpg", "http://127.0.0.1/a"), b"A")
    # A kill between the manifest line and the rename, a torn line, and a staged file:
    with open(tmp_path / MANIFEST, "a") as handle:
        handle.write(json.dumps(_record("messy/b.jpg", "http://127.0.0.1/b")) + "\n")
        handle.write('{"file": "clean/c.j')
    (tmp_path / STAGING / "x.part").write_bytes(b"half")
    reopened = ImageFolder.open(tmp_path)
    assert [r["file"] for r in reopened.records] == ["clean/a.jpg"]
    assert (tmp_path / MANIFEST).read_text().count("\n") == 1
    assert list((tmp_path / STAGING).iterdir()) == []
    assert (tmp_path / "clean" / "a.jpg").read_bytes() == b"A"
    (tmp_path / "messy" / "by-hand.png").write_bytes(b"x")
    assert [p.name for p in reopened.untracked_images()] == ["by-hand.png"]


# ---------------------------------------------------------------- engines and CLI
def test_engine_registry() -> None:
    assert set(ENGINES) == {"google", "bing", "fake"}
    assert get_engine("bing").search_url("messy room") == "https://www.bing.com/images/search?q=messy+room&form=HDRSC2&first=1"
    assert get_engine("google", "https://www.google.de/").search_url("a&b") == "https://www.google.de/search?q=a%26b&udm=2"
    with pytest.raises(EngineError, match="needs --base-url"):
        get_engine("fake")
    with pytest.raises(EngineError, match="choose one of"):
        get_engine("altavista")


def test_cli_reports_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["scrape", "--keywords", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: keyword file not found: {tmp_path / 'none.csv'}"
    keywords = tmp_path / "k.csv"
    keywords.write_text("query,label,count\nroom,clean,1\n")
    assert main(["scrape", "--keywords", str(keywords), "--out", str(tmp_path / "o"), "--engine", "fake"]) == 2
    assert "needs --base-url" in capsys.readouterr().err
    assert main(["split", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "s")]) == 2
    assert "is not a scraped folder" in capsys.readouterr().err


def test_browser_resolves_only_loopback_and_the_real_engines_own_hosts():
    from scraper.browser import chromium_arguments
    from scraper.engines import get_engine

    loopback = get_engine("google", "http://127.0.0.1:8000")
    assert loopback.browser_hosts == ()
    rules = [a for a in chromium_arguments(Path("/tmp/p"), allowed_hosts=loopback.browser_hosts)
             if a.startswith("--host-resolver-rules")]
    assert rules == ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
    real = get_engine("google")
    [rule] = [a for a in chromium_arguments(Path("/tmp/p"), allowed_hosts=real.browser_hosts)
              if a.startswith("--host-resolver-rules")]
    assert rule.startswith("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE www.google.com")
    assert "bing" not in rule
