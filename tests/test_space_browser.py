"""A real browser on the Space: Debian Chromium, headless, driven by Selenium, loopback only.

Saves ``artifacts/space-browser.png`` (and ``space-browser-error.png``) for a person to look at.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from scraper.browser import CHROMEDRIVER, CHROMIUM
from cleanmessy.feedback import read_feedback_records
from tests.helpers import ROOT_DIR, make_room_image, write_image_folder
from tests.space_helpers import running_space
from tests.web_helpers import chromium

ARTIFACTS = ROOT_DIR / "artifacts"
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "devtools"}

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason="Debian chromium + chromium-driver not installed (make browser)",
)


@pytest.fixture(scope="module")
def browser():
    """Chromium with the scraper's flags (docs/testing.md) (resolver rule included) and network logging on."""
    with chromium(window_size="1280,1100") as driver:
        yield driver


@pytest.fixture(scope="module")
def space(tiny_model_dir, tmp_path_factory):
    rooms = write_image_folder(tmp_path_factory.mktemp("rooms"), per_class=2)
    examples = sorted(str(p) for p in (rooms / "validation").rglob("*.png"))
    feedback = tmp_path_factory.mktemp("feedback")
    with running_space(tiny_model_dir, feedback, examples=examples) as (url, service):
        yield url, service, feedback


def photo_to_upload(tmp_path: Path) -> Path:
    """A real room photo from the shared dataset when it is there (a nicer screenshot), else a generated one."""
    shared = ROOT_DIR.parent / "shared" / "data" / "rooms" / "validation" / "messy"
    real = sorted(shared.glob("*")) if shared.is_dir() else []
    if real:
        return real[0]
    path = tmp_path / "room.png"
    make_room_image(messy=True, size=(320, 240), seed=4).save(path)
    return path


def wait(driver, condition, timeout: float = 60):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def requested_hosts(driver) -> set[str]:
    """Every host the page asked for, from Chromium's network log."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = urlparse(message["params"]["request"]["url"])
            hosts.add(url.scheme if url.scheme in LOCAL_SCHEMES else url.hostname)
    return hosts


def upload(driver, element_id: str, path: Path) -> None:
    driver.find_element(By.CSS_SELECTOR, f"#{element_id} input[type=file]").send_keys(str(path))


def test_upload_shows_verdict_and_heatmap_then_feedback(browser, space, tmp_path):
    url, service, feedback = space
    browser.get(url)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#photo input[type=file]"))
    assert "Clean or Messy?" in browser.find_element(By.TAG_NAME, "h1").text
    photo = photo_to_upload(tmp_path)
    upload(browser, "photo", photo)

    verdict = wait(browser, lambda d: (text := d.find_element(By.ID, "verdict").text) and text)
    expected = service.predictor.predict(photo)
    assert verdict.splitlines()[0].endswith(expected.headline)
    heatmap = wait(browser, lambda d: next(
        (img for img in d.find_elements(By.CSS_SELECTOR, "#heatmap img")
         if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)), None))
    assert browser.execute_script("return arguments[0].naturalWidth", heatmap) > 0
    meter = browser.find_element(By.ID, "meter").text.lower()
    assert "clean" in meter and "messy" in meter

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "space-browser.png"))

    browser.find_element(By.ID, "wrong").click()
    thanks = wait(browser, lambda d: (text := d.find_element(By.ID, "thanks").text) and text)
    assert "Saved as" in thanks
    assert read_feedback_records(feedback)[-1]["predicted"] == expected.label

    assert requested_hosts(browser) <= {"127.0.0.1", *LOCAL_SCHEMES}, "the page fetched from the internet"


def test_a_broken_photo_shows_the_core_message(browser, space, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"definitely not a finished jpeg" * 20)
    browser.get(space[0])
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#photo input[type=file]"))
    upload(browser, "photo", broken)
    toast = wait(browser, lambda d: next((e.text for e in d.find_elements(By.CSS_SELECTOR, ".toast-body")
                                          if "photo" in e.text.lower() or "image" in e.text.lower()), None))
    assert "damaged or truncated" in toast or "not an image" in toast, toast
    assert "Traceback" not in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "space-browser-error.png"))


def test_several_photos_are_answered_together(browser, space, tmp_path):
    url, service, _ = space
    photos = []
    for index, messy in enumerate((True, False, True)):
        photos.append(tmp_path / f"room-{index}.png")
        make_room_image(messy=messy, size=(160, 120), seed=index).save(photos[-1])
    notes = tmp_path / "notes.png"
    notes.write_bytes(b"not a picture at all")
    before = len(service.batcher.batch_sizes)
    browser.get(url)
    wait(browser, lambda d: d.find_elements(By.XPATH, "//button[@role='tab' and contains(., 'Several photos')]"))
    browser.find_element(By.XPATH, "//button[@role='tab' and contains(., 'Several photos')]").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#files input[type=file]"))
    browser.find_element(By.CSS_SELECTOR, "#files input[type=file]").send_keys("\n".join(map(str, [*photos, notes])))
    # uploaded: one row per file in the file list, named in its aria-label (the text is split stem/extension)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#files td.filename[aria-label]")) == 4)
    browser.find_element(By.ID, "check-all").click()
    table = wait(browser, lambda d: (text := d.find_element(By.ID, "table").text) and "room-2.png" in text and text)
    for photo in photos:
        assert f"{photo.name} {service.predictor.predict(photo).headline}" in table
    assert "notes.png: this file is not an image" in table
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gallery img")) == 3
    assert service.batcher.batch_sizes[before:] == [3]  # the three photos went through one forward pass
    browser.save_screenshot(str(ARTIFACTS / "space-browser-batch.png"))
