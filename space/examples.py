"""Example photos for the Space, taken at start from the data the model was trained on.

No image is committed to the repository. The examples come from, in order:

1. ``EXAMPLES_DIR``: a local image folder ``<dir>/<label>/*`` (the offline demo passes the
   validation split of the shared dataset);
2. ``EXAMPLES_DATASET``: a Hub dataset id with ``image`` and ``label`` columns (what
   ``python -m scraper push`` publishes), streamed: only the first rows are read;
3. the dataset named in the model card's ``datasets:`` metadata (what training writes when it
   learned from a Hub dataset), so a deployed Space finds its examples with no setting at all.

A missing or broken source only costs the examples: the app logs why and starts without them.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

from cleanmessy.labels import LABELS
from cleanmessy.model_files import IMAGE_SUFFIXES

logger = logging.getLogger(__name__)

CACHE = Path(tempfile.gettempdir()) / "cleanmessy-examples"
MAX_STREAMED_ROWS = 500
"""Rows of a Hub dataset read at most while looking for examples of every label."""


def _interleave(per_label: list[list[str]]) -> list[str]:
    """clean, messy, clean, messy... so the first row of examples shows both kinds."""
    longest = max((len(files) for files in per_label), default=0)
    return [files[i] for i in range(longest) for files in per_label if i < len(files)]


def from_folder(root: str | Path, per_label: int) -> list[str]:
    """The first ``per_label`` images (by name) of each ``root/<label>/`` folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"examples folder {root} does not exist")
    chosen = []
    for label in LABELS:
        folder = root / label
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
        chosen.append([str(p.resolve()) for p in files[:per_label]])
    return _interleave(chosen)


def from_dataset(dataset_id: str, per_label: int, cache: Path = CACHE, max_rows: int = MAX_STREAMED_ROWS) -> list[str]:
    """The first ``per_label`` rows of each label from the Hub dataset's validation split (else train), saved as JPEG.

    The split is streamed: rows are read (and their images decoded) only until every label has its
    examples, or ``max_rows`` rows have gone by, so a Space never downloads a whole split at boot.
    """
    from datasets import get_dataset_split_names, load_dataset

    splits = get_dataset_split_names(dataset_id)
    split = "validation" if "validation" in splits else splits[0]
    dataset = load_dataset(dataset_id, split=split, streaming=True)
    label_feature = (dataset.features or {}).get("label")
    names = list(getattr(label_feature, "names", None) or LABELS)
    folder = cache / re.sub(r"[^A-Za-z0-9._-]+", "--", dataset_id)
    folder.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, list[str]] = {label: [] for label in LABELS}
    for index, row in enumerate(dataset.take(max_rows)):
        label = names[row["label"]]
        if label in chosen and len(chosen[label]) < per_label:
            path = folder / f"{label}-{index}.jpg"
            row["image"].convert("RGB").save(path, quality=90)
            chosen[label].append(str(path))
        if all(len(files) == per_label for files in chosen.values()):
            break
    return _interleave([chosen[label] for label in LABELS])


def dataset_in_model_card(model_id: str) -> str | None:
    """The first dataset id in the model card's metadata, read from a local model dir or the Hub."""
    from huggingface_hub import ModelCard

    local = Path(model_id) / "README.md"
    if Path(model_id).is_dir() and not local.is_file():
        return None
    card = ModelCard.load(local if local.is_file() else model_id)
    datasets = card.data.to_dict().get("datasets") or []
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    return str(datasets[0]) if datasets else None


def find_examples(model_id: str, *, folder: str | None, dataset: str | None, per_label: int) -> list[str]:
    """Example photo paths from the first configured source; ``[]`` (with a logged reason) if none works."""
    try:
        if folder:
            return from_folder(folder, per_label)
        dataset = dataset or dataset_in_model_card(model_id)
        if dataset:
            return from_dataset(dataset, per_label)
    except Exception as error:  # noqa: BLE001 - examples are optional; the reason is logged
        logger.warning("no example photos (%s: %s)", type(error).__name__, error)
    return []
