"""``python -m scraper split``: stratified, seeded, and no near-duplicate on both sides."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from scraper.__main__ import main
from cleanmessy.phash import NEAR_DUPLICATE_DISTANCE, from_hex, hamming, phash, to_hex
from scraper.split import near_duplicate_groups, split_dataset
from scraper.store import MANIFEST, ImageFolder
from tests.fakes.search_site import encode, photo


def _variant(image: Image.Image, step: int) -> Image.Image:
    """A near-duplicate: slightly smaller, brighter and re-encoded."""
    edited = ImageEnhance.Brightness(image.resize((300 - 10 * step, 225 - 7 * step))).enhance(1 + 0.03 * step)
    return Image.open(io.BytesIO(encode(edited, "JPEG", quality=70))).convert("RGB")


def _commit(folder: ImageFolder, label: str, name: str, image: Image.Image) -> None:
    record = {"file": f"{label}/{name}.jpg", "label": label, "query": f"{label} q", "source_url": f"http://127.0.0.1/{name}",
              "phash": to_hex(phash(image))}
    folder.commit(record, encode(image, "JPEG"))


@pytest.fixture
def scraped(tmp_path: Path) -> Path:
    """20 clean and 10 messy images; three groups of near-duplicates (sizes 4, 3, 2)."""
    folder = ImageFolder.open(tmp_path / "raw")
    for i in range(16):
        _commit(folder, "clean", f"c{i}", photo(100 + i))
    for i in range(4):
        _commit(folder, "clean", f"c-dup{i}", _variant(photo(100), i + 1))  # 5 images of photo(100)
    for i in range(7):
        _commit(folder, "messy", f"m{i}", photo(200 + i))
    for i in range(2):
        _commit(folder, "messy", f"m-dup{i}", _variant(photo(200), i + 1))  # 3 images of photo(200)
    _commit(folder, "messy", "m-dup-of-m1", _variant(photo(201), 1))
    # One picture added by hand, not in the manifest: still split, as a near-duplicate of c3.
    _variant(photo(103), 2).save(tmp_path / "raw" / "clean" / "by-hand.png")
    return tmp_path / "raw"


def _manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / MANIFEST).read_text().splitlines()]


def test_split_keeps_near_duplicates_together_and_stratifies(scraped: Path, tmp_path: Path) -> None:
    out = tmp_path / "split"
    result = split_dataset(scraped, out, validation=0.25, seed=3)
    records = _manifest(out)
    assert len(records) == 31
    assert {r["split"] for r in records} == {"train", "validation"}
    for record in records:
        assert (out / record["file"]).is_file()
        assert record["file"] == f"{record['split']}/{record['label']}/{Path(record['file']).name}"
    # Nothing in validation is a near-duplicate of anything in train.
    train = [from_hex(r["phash"]) for r in records if r["split"] == "train"]
    validation = [from_hex(r["phash"]) for r in records if r["split"] == "validation"]
    assert min(hamming(a, b) for a in train for b in validation) > NEAR_DUPLICATE_DISTANCE
    # Groups: photo(100) x5, photo(200) x3, photo(201) x2, photo(103) x2.
    groups = {}
    for r in records:
        groups.setdefault(r["group"], set()).add(Path(r["file"]).stem)
    assert sorted(map(len, groups.values()), reverse=True)[:5] == [5, 3, 2, 2, 1]
    assert {"c0", "c-dup0", "c-dup1", "c-dup2", "c-dup3"} in groups.values()
    assert {"c3", "by-hand"} in groups.values()
    assert (result.groups, result.grouped_images) == (4, 12)
    # Stratified: about a quarter of each label (21 clean -> 5, 10 messy -> 2 or 3), never a whole label.
    for label, total in (("clean", 21), ("messy", 10)):
        in_validation = result.counts["validation"][label]
        assert 1 <= in_validation <= round(total * 0.25)
        assert result.counts["train"][label] == total - in_validation
        assert len(list((out / "validation" / label).iterdir())) == in_validation


def test_split_is_seeded_and_refuses_to_overwrite(scraped: Path, tmp_path: Path) -> None:
    first = split_dataset(scraped, tmp_path / "a", seed=7)
    again = split_dataset(scraped, tmp_path / "b", seed=7)
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*.*"))  # noqa: E731
    assert files(tmp_path / "a") == files(tmp_path / "b") and first.counts == again.counts
    other = split_dataset(scraped, tmp_path / "c", seed=8)
    assert files(tmp_path / "c") != files(tmp_path / "a") or other.counts != first.counts
    with pytest.raises(Exception, match="already exists: pass --overwrite"):
        split_dataset(scraped, tmp_path / "a", seed=7)
    split_dataset(scraped, tmp_path / "a", seed=8, overwrite=True, copy=True)
    assert files(tmp_path / "a") == files(tmp_path / "c")


def test_split_hard_links_by_default(scraped: Path, tmp_path: Path) -> None:
    split_dataset(scraped, tmp_path / "s")
    record = _manifest(tmp_path / "s")[0]
    source = scraped / record["file"].split("/", 1)[1]
    assert (tmp_path / "s" / record["file"]).stat().st_ino == source.stat().st_ino


def test_near_duplicate_groups_chain() -> None:
    a, b, c, far = 0, 0b111111, 0b111111111111, 2**64 - 1
    assert hamming(a, c) > 6
    groups = near_duplicate_groups([a, b, c, far], 6)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_split_cli(scraped: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["split", "--data", str(scraped), "--out", str(tmp_path / "s"), "--validation", "0.3"]) == 0
    output = capsys.readouterr().out
    assert "validation" in output and "near-duplicate groups: 4" in output
    assert main(["split", "--data", str(scraped), "--out", str(tmp_path / "s")]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
