"""The scraper driving real headless Chromium over the loopback fake image search.

One browser session serves the whole module. The fake site's results mix good photos with
every kind of junk a real search returns; the tests assert exactly what is kept and why the
rest was rejected, the manifest, resuming, and the per-query count.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from scraper.browser import CHROMEDRIVER, CHROMIUM
from scraper.download import FetchSettings
from scraper.engines.bing import BingImages
from scraper.engines.fake import FakeSearch
from scraper.engines.google import GoogleImages
from scraper.errors import BlockedError, SelectorError
from scraper.keyword_file import Keyword
from cleanmessy.phash import phash, to_hex
from scraper.pipeline import Scraper, ScrapeSettings
from scraper.search import Pacer
from scraper.store import MANIFEST, REJECTED
from tests.fakes.engine_markup import doc_id
from tests.fakes.search_site import FakeImage, FakeSearchSite, encode, jpeg_with_orientation, noise_png, photo

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("browser tests need `apt-get install chromium chromium-driver`", allow_module_level=True)

from scraper.browser import start_browser  # noqa: E402

AGENT = "scraper-under-test"
SETTINGS = ScrapeSettings(
    fetch=FetchSettings(timeout=0.5, retries=1, backoff=0.02, max_bytes=300_000, user_agent=AGENT),
    workers=4, min_size=64, pace=0, host_interval=0, resolve_timeout=3, load_timeout=3, progress=False,
)
CLEAN, MESSY = Keyword("tidy room", "clean", 100), Keyword("messy room", "messy", 100)

# key -> expected outcome ("kept" or a rejection reason); results are served in this order.
CLEAN_RESULTS = {
    "good0": "kept", "good1-rgba-png": "kept", "broken": "corrupt", "good2-webp": "kept",
    "html-as-jpeg": "bad_magic", "huge": "too_large", "tiny": "too_small", "dup-of-good0": "duplicate",
    "near-dup-of-good1": "duplicate", "slow": "timeout", "missing": "http_error", "good3-exif": "kept",
    "html-page": "not_image", "good4-grey": "kept", "good5": "kept", "good6": "kept", "good7": "kept",
    "good8": "kept", "good9": "kept", "good10": "kept",
}
MESSY_RESULTS = {"mess0": "kept", "mess1": "kept", "dup-of-good2": "duplicate", "mess2": "kept", "mess3": "kept", "mess4": "kept"}


def _near_duplicate(image: Image.Image) -> bytes:
    return encode(ImageEnhance.Brightness(image.resize((270, 234))).enhance(1.05), "JPEG", quality=70)


def _fill(site: FakeSearchSite) -> None:
    rgba = photo(1, (300, 260)).convert("RGBA")
    images = {
        "good0": FakeImage(encode(photo(0))),
        "good1-rgba-png": FakeImage(encode(rgba, "PNG"), "image/png"),
        "broken": FakeImage(encode(photo(50))[:2500]),
        "good2-webp": FakeImage(encode(photo(2), "WEBP"), "image/webp"),
        "html-as-jpeg": FakeImage(b"<!doctype html><html><body>Access denied</body></html>"),
        "huge": FakeImage(noise_png((400, 400)), "image/png", send_length=False),
        "tiny": FakeImage(encode(photo(51, (24, 24)), "PNG"), "image/png"),
        "dup-of-good0": FakeImage(encode(photo(0))),
        "near-dup-of-good1": FakeImage(_near_duplicate(rgba.convert("RGB"))),
        "slow": FakeImage(encode(photo(52)), delay=3),
        "missing": FakeImage(b"<html>404</html>", "text/html", status=404),
        "good3-exif": FakeImage(jpeg_with_orientation(photo(3, (320, 200)), 6)),
        "html-page": FakeImage(b"<html><body>a page, not an image</body></html>", "text/html"),
        "good4-grey": FakeImage(encode(photo(4).convert("L"))),
        **{f"good{i}": FakeImage(encode(photo(i))) for i in range(5, 11)},
    }
    assert list(images) == list(CLEAN_RESULTS)
    for key, image in images.items():
        site.add(CLEAN.query, key, image)
    for i, key in enumerate(k for k in MESSY_RESULTS if k.startswith("mess")):
        site.add(MESSY.query, key, FakeImage(encode(photo(100 + i), "PNG"), "image/png"))
    site.add(MESSY.query, "dup-of-good2", FakeImage(encode(photo(2), "JPEG", quality=80)))
    order = site.results[MESSY.query]
    order.insert(2, order.pop())  # serve the duplicate third, as listed in MESSY_RESULTS


@pytest.fixture(scope="module")
def site():
    with FakeSearchSite(batch=6, batches_per_button=2, reveal_delay=0.08) as fake:
        _fill(fake)
        yield fake


@pytest.fixture(scope="module")
def driver():
    with start_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def first_run(site: FakeSearchSite, driver, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("scraped")
    scraper = Scraper(out, FakeSearch(site.url), SETTINGS)
    summary = scraper.run(driver, [CLEAN, MESSY])
    return out, summary


def _records(out: Path, name: str = MANIFEST) -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def _key(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def test_keeps_exactly_the_good_images(first_run) -> None:
    out, _ = first_run
    expected = {k for k, v in {**CLEAN_RESULTS, **MESSY_RESULTS}.items() if v == "kept"}
    records = _records(out)
    assert {_key(r["source_url"]) for r in records} == expected
    on_disk = {str(p.relative_to(out)) for p in out.glob("*/*") if p.parent.name in ("clean", "messy")}
    assert on_disk == {r["file"] for r in records}
    assert sum(1 for r in records if r["label"] == "clean") == 11
    assert sum(1 for r in records if r["label"] == "messy") == 5
    assert not list((out / ".tmp").iterdir())


def test_summary_counts_rejections_by_reason(first_run) -> None:
    _, summary = first_run
    outcomes = [v for v in {**CLEAN_RESULTS, **MESSY_RESULTS}.values()]
    assert summary.found == summary.thumbnails == len(outcomes)
    assert summary.unresolved == 0 and summary.seen_before == 0
    assert summary.more_clicks == 1  # 20 clean results in batches of 6, a button after every 2 batches
    assert summary.downloaded == outcomes.count("kept") == 16
    assert summary.duplicates == 3
    assert dict(summary.rejected) == {
        "corrupt": 1, "bad_magic": 1, "too_large": 1, "too_small": 1, "timeout": 1, "http_error": 1, "not_image": 1,
    }
    text = summary.format()
    assert "downloaded:   16 kept" in text and "duplicates:   3" in text and "too_large    1" in text


def test_manifest_describes_every_kept_image(first_run, site: FakeSearchSite) -> None:
    out, _ = first_run
    for record in _records(out):
        key = _key(record["source_url"])
        path = out / record["file"]
        data = path.read_bytes()
        assert record["source_url"] == site.image_url(key)
        assert record["page_url"] == f"{site.url}/page/{key}"
        assert record["query"] == (CLEAN.query if key in CLEAN_RESULTS else MESSY.query)
        assert record["file"].startswith(record["label"] + "/") and path.suffix == ".jpg"
        assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["bytes"] == len(data)
        assert record["source_bytes"] == len(site.images[key].body)
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert (record["width"], record["height"]) == image.size
            assert record["phash"] == to_hex(phash(image))
        assert record["engine"] == "fake" and datetime.fromisoformat(record["time"])
    by_key = {_key(r["source_url"]): r for r in _records(out)}
    assert (by_key["good3-exif"]["width"], by_key["good3-exif"]["height"]) == (200, 320)  # EXIF rotation applied
    assert by_key["good1-rgba-png"]["content_type"] == "image/png"


def test_rejections_are_logged_with_reasons(first_run) -> None:
    out, _ = first_run
    logged = {_key(r["source_url"]): r for r in _records(out, REJECTED)}
    expected = {k: v for k, v in {**CLEAN_RESULTS, **MESSY_RESULTS}.items() if v != "kept"}
    assert {k: r["reason"] for k, r in logged.items()} == expected
    assert logged["slow"]["transient"] is True and logged["missing"]["transient"] is False
    kept = {_key(r["source_url"]): r["file"] for r in _records(out)}
    assert logged["dup-of-good0"]["detail"] == f"0 bits from {kept['good0']}"
    assert logged["dup-of-good2"]["detail"].endswith(f"bits from {kept['good2-webp']}")


def test_rerun_resumes_without_downloading_again(first_run, site: FakeSearchSite, driver) -> None:
    out, _ = first_run
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.glob("*/*.jpg"))
    downloads = len(site.downloads(AGENT))
    summary = Scraper(out, FakeSearch(site.url), SETTINGS).run(driver, [CLEAN, MESSY])
    assert summary.downloaded == 0
    assert summary.seen_before == summary.found - 1  # everything but the transiently failed one
    assert dict(summary.rejected) == {"timeout": 1}
    assert site.downloads(AGENT)[downloads:] == ["slow", "slow"]  # only the timeout is tried again (1 retry)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.glob("*/*.jpg")) == before
    complete = Scraper(out, FakeSearch(site.url), SETTINGS).run(driver, [Keyword(CLEAN.query, "clean", 5)])
    assert complete.queries_already_complete == 1 and complete.found == 0


def test_stops_at_count_keeping_the_first_good_results(site: FakeSearchSite, driver, tmp_path: Path) -> None:
    summary = Scraper(tmp_path, FakeSearch(site.url), SETTINGS).run(driver, [Keyword(CLEAN.query, "clean", 3)])
    assert {_key(r["source_url"]) for r in _records(tmp_path)} == {"good0", "good1-rgba-png", "good2-webp"}
    assert summary.downloaded == 3 and summary.thumbnails <= 4 + 2 * SETTINGS.workers


def test_size_and_min_size_come_from_the_keyword_row(site: FakeSearchSite, driver, tmp_path: Path) -> None:
    keyword = Keyword(MESSY.query, "messy", 2, min_size=250, size=120)
    summary = Scraper(tmp_path, FakeSearch(site.url), SETTINGS).run(driver, [keyword])
    # The messy photos are 320x240: a 250 px minimum rejects them all; the duplicate of good2 too.
    assert summary.downloaded == 0 and summary.rejected["too_small"] == 6
    Scraper(tmp_path / "small", FakeSearch(site.url), SETTINGS).run(driver, [Keyword(MESSY.query, "messy", 2, size=120)])
    assert {(r["width"], r["height"]) for r in _records(tmp_path / "small")} == {(120, 90)}


def test_unknown_query_ends_quietly(site: FakeSearchSite, driver, tmp_path: Path) -> None:
    summary = Scraper(tmp_path, FakeSearch(site.url), SETTINGS).run(driver, [Keyword("nothing here", "clean", 5)])
    assert (summary.found, summary.downloaded) == (0, 0)


def test_stale_selectors_raise_an_actionable_error(site: FakeSearchSite, driver, tmp_path: Path) -> None:
    class Renamed(FakeSearch):
        thumbnail = "#results a.old-result-class"

    settings = ScrapeSettings(**{**SETTINGS.__dict__, "load_timeout": 1.0, "resolve_timeout": 0.2})
    with pytest.raises(SelectorError, match=r"no element matched the thumbnail selector '#results a.old-result-class'.*scraper/engines/fake.py"):
        Scraper(tmp_path, Renamed(site.url), settings).run(driver, [CLEAN])

    class NoPreview(FakeSearch):
        preview_image = "#preview img.gone"

    with pytest.raises(SelectorError, match="clicked 5 thumbnails but none showed a full-size image"):
        Scraper(tmp_path, NoPreview(site.url), settings).run(driver, [CLEAN])


# ---------------------------------------------------------------- the real engines' adapters
# The fake site serves its results in each engine's markup (tests/fakes/engine_markup.py), on
# 127.0.0.1: these tests check the adapters' selectors and resolve logic, not the live sites.
ENGINE_KEYS = [f"g{i}" for i in range(8)]
TIDY = Keyword("tidy room", "clean", len(ENGINE_KEYS))


class CountingPacer(Pacer):
    """A pacer that never sleeps and counts the browser actions it was asked to space out."""

    def __init__(self) -> None:
        super().__init__(0)
        self.waits = 0

    def wait(self, key: str) -> None:
        self.waits += 1


@pytest.fixture(scope="module")
def engine_site():
    with FakeSearchSite(batch=3, reveal_delay=0.08) as fake:
        for i, key in enumerate(ENGINE_KEYS):
            fake.add(TIDY.query, key, FakeImage(encode(photo(200 + i))))
        yield fake


def _scrape(engine, out: Path) -> tuple[Scraper, CountingPacer]:
    settings = ScrapeSettings(**{**SETTINGS.__dict__, "load_timeout": 1.0})
    scraper = Scraper(out, engine, settings)
    scraper._browser_pacer = pacer = CountingPacer()
    return scraper, pacer


def _key_and_query(url: str) -> tuple[str, str]:
    path, _, query = url.rpartition("/")[2].partition("?")
    return path, query


def test_google_today_reads_page_data_and_falls_back_to_the_panel(engine_site: FakeSearchSite, driver, tmp_path: Path) -> None:
    engine_site.google_consent = True
    consents, clicks = len(engine_site.logged("consent")), len(engine_site.logged("click"))
    try:
        scraper, pacer = _scrape(GoogleImages(engine_site.url + "/google"), tmp_path)
        summary = scraper.run(driver, [TIDY])
    finally:
        engine_site.google_consent = False
    records = _records(tmp_path)
    assert [_key_and_query(r["source_url"])[0] for r in records] == ENGINE_KEYS
    assert summary.unresolved == 0 and summary.downloaded == len(ENGINE_KEYS)
    assert all(r["page_url"] == f"{engine_site.url}/page/{_key_and_query(r['source_url'])[0]}" for r in records)
    # The first batch (3) came from the embedded data, decoded (\u003d, \u0026), without a click;
    # the rest, loaded by scrolling, through a click on the tile and the panel of that doc id
    # (not the preloaded neighbour's panel that precedes it).
    assert [_key_and_query(r["source_url"])[1] for r in records] == ["via=data&w=1"] * 3 + [""] * 5
    assert [c["doc"] for c in engine_site.logged("click")[clicks:]] == [doc_id(k) for k in ENGINE_KEYS[3:]]
    # The German consent dialog was answered with "reject all" (set_eom=true), found by attribute.
    assert engine_site.logged("consent")[consents:] == [{"set_eom": "true"}]
    # Paced: the page, one per click, at most two scrolls for more (clicks scroll too); no pause for
    # a result read from the page data (pausing per result would make it at least 1 + 8 + 1).
    assert 1 + 5 <= pacer.waits <= 1 + 5 + 2


def test_google_legacy_markup_still_works(engine_site: FakeSearchSite, driver, tmp_path: Path) -> None:
    scraper, _ = _scrape(GoogleImages(engine_site.url + "/google-legacy"), tmp_path)
    summary = scraper.run(driver, [TIDY])
    records = _records(tmp_path)
    assert [_key(r["source_url"]) for r in records] == ENGINE_KEYS
    assert all(r["page_url"] == f"{engine_site.url}/page/{_key(r['source_url'])}" for r in records)
    assert summary.unresolved == 0


def test_bing_reads_metadata_without_a_pause_per_result(engine_site: FakeSearchSite, driver, tmp_path: Path) -> None:
    scraper, pacer = _scrape(BingImages(engine_site.url + "/bing"), tmp_path)
    summary = scraper.run(driver, [TIDY])
    records = _records(tmp_path)
    assert [_key(r["source_url"]) for r in records] == ENGINE_KEYS
    assert all(r["page_url"] == f"{engine_site.url}/page/{_key(r['source_url'])}" and r["engine"] == "bing" for r in records)
    assert summary.unresolved == 1  # the tile with broken JSON
    assert pacer.waits == 1  # opening the page; reading 9 tiles' metadata is no browser action


def test_google_captcha_page_says_what_to_do(engine_site: FakeSearchSite, driver, tmp_path: Path) -> None:
    engine_site.google_blocked = True
    try:
        with pytest.raises(BlockedError) as raised:
            _scrape(GoogleImages(engine_site.url + "/google"), tmp_path)[0].run(driver, [TIDY])
    finally:
        engine_site.google_blocked = False
    message = str(raised.value)
    assert "captcha ('unusual traffic')" in message and "/google/sorry/index" in message
    assert "--pace" in message and "--engine bing" in message and "Selenium Grid" in message
    assert not list(tmp_path.glob("*/*.jpg"))


# ---------------------------------------------------------------- scrape -> split -> push -> training data
def test_scraped_folder_splits_pushes_and_loads_for_training(first_run, hub, tmp_path: Path) -> None:
    from scraper.__main__ import main as scraper_main
    from training.data import load_training_data

    out, _ = first_run
    rooms = tmp_path / "rooms"
    assert scraper_main(["split", "--data", str(out), "--out", str(rooms), "--validation", "0.2"]) == 0
    split_of = {Path(r["file"]).name: r["split"] for r in _records(rooms)}
    assert scraper_main(["push", "--data", str(rooms), "--repo", "scraper-e2e/rooms"]) == 0
    splits = load_training_data("scraper-e2e/rooms")
    assert splits["train"].features["label"].names == ["clean", "messy"]
    for name in ("train", "validation"):
        labels = splits[name]["label"]
        expected = [r["label"] for r in _records(rooms) if r["split"] == name]
        assert (labels.count(0), labels.count(1)) == (expected.count("clean"), expected.count("messy"))
    assert sorted(split_of.values()).count("validation") == len(splits["validation"]) >= 2
