"""``python -m scraper scrape`` as a user runs it: interrupted, killed midway, then resumed.

Each run is a real subprocess with its own headless Chromium. A download that never finishes
("hang") holds the run at a known point, so the interruptions land mid-download.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from scraper.browser import CHROMEDRIVER, CHROMIUM
from scraper.store import MANIFEST
from tests.fakes.search_site import FakeImage, FakeSearchSite, encode, photo

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("browser tests need `apt-get install chromium chromium-driver`", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
AGENT = "scraper-cli-under-test"
GOOD = [f"g{i}" for i in range(10)]


def _command(keywords: Path, out: Path, site: FakeSearchSite) -> list[str]:
    return [
        sys.executable, "-m", "scraper", "scrape", "--keywords", str(keywords), "--out", str(out),
        "--engine", "fake", "--base-url", site.url, "--workers", "1", "--pace", "0", "--host-interval", "0",
        "--timeout", "60", "--retries", "0", "--min-size", "64", "--user-agent", AGENT, "--no-progress",
        "--summary-json", str(out.parent / "summary.json"),
    ]


def _start(command: list[str], tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_hang(site: FakeSearchSite, process: subprocess.Popen, manifest: Path, committed: int) -> None:
    """Until the scraper is stuck downloading "hang" with ``committed`` images in the manifest."""
    deadline = time.monotonic() + 60
    while "hang" not in site.downloads(AGENT) or not manifest.is_file() or manifest.read_text().count("\n") < committed:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the scraper never reached the hanging download"
        time.sleep(0.05)


def _our_processes(tmp: Path) -> list[int]:
    """Pids whose command line mentions ``tmp`` (the browsers' profiles live there)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(tmp).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _assert_no_browser_left(tmp: Path) -> None:
    deadline = time.monotonic() + 10
    while (left := _our_processes(tmp)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # never leak browsers on a shared machine, even when failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"browser processes left behind: {left}"


def _assert_consistent(out: Path) -> set[str]:
    """No partial or stray file in a label folder; every image whole and in the manifest. Returns kept keys."""
    records = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    listed = {r["file"] for r in records}
    on_disk = {f"{p.parent.name}/{p.name}" for label in ("clean", "messy") for p in (out / label).iterdir()}
    assert on_disk <= listed
    assert len(listed - on_disk) <= 1  # killed between the manifest line and the rename: repaired on reopen
    for name in on_disk:
        assert name.endswith(".jpg")
        with Image.open(out / name) as image:
            image.load()  # a truncated file would raise here
    return {r["source_url"].rsplit("/", 1)[-1] for r in records if r["file"] in on_disk}


@pytest.fixture
def short_tmp():
    """A short TMPDIR for the runs: Chromium's singleton socket path must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="scr-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_interrupted_and_killed_runs_leave_whole_files_and_resume(tmp_path: Path, short_tmp: Path) -> None:
    tmp = short_tmp
    out = tmp_path / "data"
    keywords = tmp_path / "rooms.csv"
    keywords.write_text("query,label,count\ntidy room,clean,100\n")
    with FakeSearchSite(batch=4, batches_per_button=2) as site:
        for key in GOOD[:5]:
            site.add("tidy room", key, FakeImage(encode(photo(int(key[1:])))))
        site.add("tidy room", "hang", FakeImage(encode(photo(99)), delay=600))
        for key in GOOD[5:]:
            site.add("tidy room", key, FakeImage(encode(photo(int(key[1:])))))
        command = _command(keywords, out, site)

        # 1. SIGTERM mid-download: a clean stop, a summary, a hint, and no browser left running.
        process = _start(command, tmp)
        _wait_for_hang(site, process, out / MANIFEST, committed=5)
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 130, output
        assert "interrupted: rerun the same command to resume" in output and "downloaded:" in output
        _assert_no_browser_left(tmp)
        assert _assert_consistent(out) == set(GOOD[:5])

        # 2. SIGKILL of the whole process group mid-download: nothing can clean up.
        process = _start(command, tmp)
        _wait_for_hang(site, process, out / MANIFEST, committed=5)
        seen = len(site.downloads(AGENT))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        _assert_no_browser_left(tmp)
        assert _assert_consistent(out) == set(GOOD[:5])
        assert site.downloads(AGENT)[seen - 1 :] == ["hang"]  # the kept five were not fetched again

        # 3. The same command, with the slow server recovered, finishes the job.
        site.images["hang"].delay = 0
        seen = len(site.downloads(AGENT))
        process = _start(command, tmp)
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 0, output
        _assert_no_browser_left(tmp)
        assert site.downloads(AGENT)[seen:] == ["hang", *GOOD[5:]]
        assert _assert_consistent(out) == {*GOOD, "hang"}
        assert not list((out / ".tmp").iterdir())
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert (summary["downloaded"], summary["seen_before"], summary["rejected"]) == (6, 5, {})
        assert "downloaded:   6 kept" in output
