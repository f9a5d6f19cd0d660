"""``python -m scraper split``: train/validation folders with near-duplicates kept in one split.

Images whose perceptual hashes are within ``--distance`` bits are joined into a group (and
groups chain: if A~B and B~C, all three stay together). Whole groups are then assigned per
label, in a seeded shuffle, until validation holds about ``--validation`` of that label.

Example::

    python -m scraper split --data data/raw --out data/rooms --validation 0.2 --seed 0

writes ``data/rooms/{train,validation}/<label>/`` (hard links, or copies with ``--copy``) and
``data/rooms/manifest.jsonl``: the scrape manifest with ``file`` relative to ``--out``, plus
``split`` and ``group`` (near-duplicate group id) per image.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cleanmessy.errors import ImageError
from cleanmessy.images import load_image
from cleanmessy.labels import LABELS
from scraper.errors import DatasetError
from cleanmessy.phash import NEAR_DUPLICATE_DISTANCE, from_hex, phash, to_hex
from scraper.store import MANIFEST, ImageFolder, write_atomic

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")


@dataclass
class SplitResult:
    """Images per split and label, and how many near-duplicate groups there were."""

    counts: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in SPLITS})
    groups: int = 0
    grouped_images: int = 0

    def format(self) -> str:
        """A small table for the terminal."""
        lines = [f"{'':<12}" + "".join(f"{label:>8}" for label in LABELS)]
        for name in SPLITS:
            lines.append(f"{name:<12}" + "".join(f"{self.counts[name][label]:>8}" for label in LABELS))
        lines.append(f"near-duplicate groups: {self.groups} ({self.grouped_images} images kept together)")
        return "\n".join(lines)


def _items(folder: ImageFolder) -> list[dict[str, Any]]:
    """Manifest records, plus minimal records for images in the folder that the manifest lacks."""
    items = [dict(record) for record in folder.records]
    for path in folder.untracked_images():
        try:
            image = load_image(path, min_side=1)
        except ImageError as error:
            log.warning("%s: %s (left out of the split)", path, error)
            continue
        items.append({"file": f"{path.parent.name}/{path.name}", "label": path.parent.name, "phash": to_hex(phash(image))})
    return items


def near_duplicate_groups(hashes: list[int], distance: int) -> list[int]:
    """Group id per hash: hashes within ``distance`` bits (transitively) share a group."""
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    values = np.array(hashes, dtype=np.uint64)
    for i in range(len(values) - 1):
        close = np.nonzero(np.bitwise_count(values[i + 1 :] ^ values[i]) <= distance)[0] + i + 1
        for j in close:
            parent[find(int(j))] = find(i)
    return [find(i) for i in range(len(hashes))]


def assign_splits(items: list[dict[str, Any]], groups: list[int], validation: float, seed: int) -> list[str]:
    """Split name per item: whole groups, stratified by label, a seeded shuffle filling validation first."""
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    by_label: dict[str, list[list[int]]] = defaultdict(list)
    for indices in members.values():
        labels = Counter(items[i]["label"] for i in indices)
        if len(labels) > 1:
            log.warning("near-duplicates with different labels stay together: %s", ", ".join(items[i]["file"] for i in indices))
        by_label[labels.most_common(1)[0][0]].append(sorted(indices, key=lambda i: items[i]["file"]))
    rng = random.Random(seed)
    assigned = ["train"] * len(items)
    for label in sorted(by_label):
        label_groups = sorted(by_label[label], key=lambda g: items[g[0]]["file"])
        rng.shuffle(label_groups)
        total = sum(len(g) for g in label_groups)
        target = min(total - 1, max(1, round(total * validation))) if validation > 0 and total > 1 else 0
        in_validation = 0
        for group in label_groups:
            if in_validation + len(group) <= target:
                in_validation += len(group)
                for i in group:
                    assigned[i] = "validation"
    return assigned


def _place(source: Path, target: Path, copy: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # another file system, or links not supported: copy instead
    shutil.copy2(source, target)


def split_dataset(
    data: str | Path,
    out: str | Path,
    *,
    validation: float = 0.2,
    seed: int = 0,
    distance: int = NEAR_DUPLICATE_DISTANCE,
    copy: bool = False,
    overwrite: bool = False,
) -> SplitResult:
    """Write ``out/{train,validation}/<label>/`` and ``out/manifest.jsonl`` from the scraped folder ``data``."""
    data, out = Path(data), Path(out)
    if not 0 <= validation < 1:
        raise DatasetError(f"--validation must be in [0, 1), got {validation}")
    if not (data / MANIFEST).is_file() and not any((data / label).is_dir() for label in LABELS):
        raise DatasetError(f"{data} is not a scraped folder: expected {MANIFEST} or {'/, '.join(LABELS)}/ inside")
    if out.resolve() == data.resolve():
        raise DatasetError("--out must differ from --data (the split folders are written beside a manifest)")
    existing = [out / name for name in SPLITS if (out / name).exists()]
    if existing and not overwrite:
        raise DatasetError(f"{existing[0]} already exists: pass --overwrite to replace the split")
    for path in existing:
        shutil.rmtree(path)

    items = _items(ImageFolder.open(data))
    if not items:
        raise DatasetError(f"{data} holds no images to split")
    groups = near_duplicate_groups([from_hex(item["phash"]) for item in items], distance)
    splits = assign_splits(items, groups, validation, seed)

    result = SplitResult()
    sizes = Counter(groups)
    result.groups = sum(1 for size in sizes.values() if size > 1)
    result.grouped_images = sum(size for size in sizes.values() if size > 1)
    lines = []
    for item, group, split in zip(items, groups, splits):
        _place(data / item["file"], out / split / item["file"], copy)
        result.counts[split][item["label"]] += 1
        record = {**item, "file": f"{split}/{item['file']}", "split": split, "group": group}
        lines.append(json.dumps(record, ensure_ascii=False, sort_keys=True))
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / MANIFEST, ("\n".join(lines) + "\n").encode("utf-8"))
    return result


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``split`` options to ``parser``."""
    parser.add_argument("--data", required=True, type=Path, help="the folder written by `scrape` (DIR/<label>/, manifest.jsonl)")
    parser.add_argument("--out", required=True, type=Path, help="where to write train/ and validation/ and manifest.jsonl")
    parser.add_argument("--validation", type=float, default=0.2, help="fraction of each label for validation (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default: %(default)s)")
    parser.add_argument("--distance", type=int, default=NEAR_DUPLICATE_DISTANCE, help="perceptual-hash bits within which images stay together (default: %(default)s)")
    parser.add_argument("--copy", action="store_true", help="copy files instead of hard-linking them")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split in --out")


def run(args: argparse.Namespace) -> int:
    """Split and print the counts."""
    result = split_dataset(args.data, args.out, validation=args.validation, seed=args.seed,
                           distance=args.distance, copy=args.copy, overwrite=args.overwrite)
    print(result.format())
    print(f"written to {args.out}")
    return 0
