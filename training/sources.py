"""Training data from several sources, merged, de-duplicated, and kept apart from validation.

    python -m training --data ../shared/data/rooms --data feedback --data alice/clean-or-messy-feedback

Each ``--data`` is one of:

- an **image folder** (``train/`` + ``validation/`` with ``clean/`` and ``messy/``, or just
  ``clean/`` and ``messy/``, from which a stratified share is held out);
- a **Hub dataset** id (``user/name``) with a ``train`` and optionally a ``validation`` split;
- a **feedback folder** (``FEEDBACK_DIR``, written by the Space and the bot) or a **feedback
  dataset** (the Hub repo ``FEEDBACK_REPO`` they push to).

Feedback is user corrections: it only ever goes into *train*. Validation is the union of the
other sources' validation splits, so it stays a fixed, curated set; feedback alone is refused.

Every photo gets a 64-bit perceptual hash (:mod:`cleanmessy.phash`). A training photo within
``NEAR_DUPLICATE_DISTANCE`` bits of a validation photo is dropped (it would leak the answer
into training and flatter the evaluation), and so is a near-duplicate of a training photo
already kept (sources earlier on the command line win). The run prints both counts, and the
model card lists every source with its counts.

Measured on the 20 validation photos of the shared room set: a re-encoded copy (1280 px, JPEG
q80; or half size, q70) hashes 0 bits from its original and +15% brightness at most 4, so all
are caught; a 5% crop on each side moves the hash 10 bits (median) and is caught only 2 times in
20. The closest two different photos of the set are 16 bits apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Image

from cleanmessy.errors import ImageError
from cleanmessy.feedback import is_feedback_folder
from cleanmessy.imagefolder import IMAGE_SUFFIXES
from cleanmessy.images import load_image
from cleanmessy.labels import LABELS
from cleanmessy.phash import NEAR_DUPLICATE_DISTANCE, HashIndex, phash
from training.data import DataError, encoded, load_training_data

logger = logging.getLogger(__name__)

FEATURES = Features({"image": Image(decode=False), "label": ClassLabel(names=list(LABELS))})
HASH_SIZE_HINT = 128
"""JPEGs are decoded at reduced scale for hashing: the hash looks at 32 × 32 grey pixels."""


@dataclass
class Example:
    """One undecoded photo, its label id and the source it came from."""

    image: dict
    label: int
    source: str


@dataclass
class SourceReport:
    """What one ``--data`` contributed: its kind, photos read, and what was dropped from its train part."""

    spec: str
    kind: str
    train: int = 0
    validation: int = 0
    kept: int = 0
    leaks: int = 0
    duplicates: int = 0
    unreadable: int = 0

    @property
    def hub_id(self) -> str | None:
        return self.spec if self.kind in ("Hub dataset", "feedback dataset") else None


@dataclass
class MergedData:
    """The merged ``DatasetDict(train, validation)`` and what each source gave."""

    splits: DatasetDict
    sources: list[SourceReport] = field(default_factory=list)

    @property
    def leaks(self) -> int:
        return sum(source.leaks for source in self.sources)

    @property
    def duplicates(self) -> int:
        return sum(source.duplicates for source in self.sources)

    def summary(self) -> str:
        """One line for the log: sizes and what was dropped."""
        unreadable = sum(source.unreadable for source in self.sources)
        return (f"{len(self.splits['train'])} train, {len(self.splits['validation'])} validation images from "
                f"{len(self.sources)} source(s); dropped from train: {self.leaks} near-duplicate(s) of validation "
                f"photos, {self.duplicates} near-duplicate(s) of other training photos"
                + (f", {unreadable} unreadable" if unreadable else ""))

    def card_table(self) -> str:
        """A markdown table of the sources for the model card."""
        rows = [f"| `{s.spec}` | {s.kind} | {s.train} | {s.validation} | {s.kept} | {s.leaks} | {s.duplicates} |"
                for s in self.sources]
        return ("| source | kind | train photos read | validation photos | train photos kept | "
                "dropped: near-duplicate of validation | dropped: duplicate |\n|---|---|---|---|---|---|---|\n"
                + "\n".join(rows))


def folder_examples(root: Path, spec: str) -> list[Example]:
    """Every ``root/<label>/*`` image, for a feedback folder (all of it is training data)."""
    examples = []
    for label_id, label in enumerate(LABELS):
        for path in sorted((root / label).glob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                examples.append(Example({"bytes": None, "path": str(path)}, label_id, spec))
    return examples


def _split_examples(split: Dataset, spec: str) -> list[Example]:
    return [Example(image, label, spec) for image, label in zip(split["image"], split["label"])]


def _feedback_snapshot(repo_id: str) -> Path | None:
    """A local copy of ``repo_id`` if it is a feedback dataset (it has ``records/``), else ``None``."""
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=["records/*.jsonl", "manifest.jsonl"]))
    except Exception:  # not reachable this way: let `datasets` say why
        return None
    if not is_feedback_folder(path):
        return None
    return Path(snapshot_download(repo_id, repo_type="dataset",
                                  allow_patterns=["records/*.jsonl", "manifest.jsonl", *(f"{label}/*" for label in LABELS)]))


def read_source(spec: str, validation_fraction: float, seed: int) -> tuple[SourceReport, list[Example], list[Example]]:
    """``(report, train examples, validation examples)`` of one ``--data`` value."""
    local = Path(spec)
    if local.is_dir() and is_feedback_folder(local):
        train, validation, kind = folder_examples(local, spec), [], "feedback folder"
    elif not local.exists() and spec.count("/") == 1 and (snapshot := _feedback_snapshot(spec)) is not None:
        train, validation, kind = folder_examples(snapshot, spec), [], "feedback dataset"
    else:
        splits = load_training_data(spec, validation_fraction, seed)
        kind = "image folder" if local.is_dir() else "Hub dataset"
        train, validation = _split_examples(splits["train"], spec), _split_examples(splits["validation"], spec)
    return SourceReport(spec, kind, train=len(train), validation=len(validation)), train, validation


def _hash(example: Example) -> int | None:
    try:
        return phash(load_image(encoded(example.image), size_hint=HASH_SIZE_HINT))
    except ImageError as error:
        logger.warning("skipped an unreadable photo from %s: %s", example.source, error)
        return None


def examples_dataset(examples: list[Example]) -> Dataset:
    return Dataset.from_dict({"image": [e.image for e in examples], "label": [e.label for e in examples]},
                             features=FEATURES)


def merge_sources(specs: list[str], validation_fraction: float = 0.2, seed: int = 0,
                  distance: int = NEAR_DUPLICATE_DISTANCE) -> MergedData:
    """Read every source, then build train (de-duplicated, no near-duplicate of validation) and validation."""
    reports, train, validation = [], [], []
    for spec in specs:
        report, source_train, source_validation = read_source(spec, validation_fraction, seed)
        reports.append(report)
        train += source_train
        validation += source_validation
    if not validation:
        raise DataError("only feedback was given, and feedback is never used for validation: add the base data "
                        "too (--data DIR_OR_DATASET --data FEEDBACK) so the model is evaluated on a curated set")
    by_spec = {report.spec: report for report in reports}
    held_out = HashIndex()
    for example in validation:
        if (value := _hash(example)) is not None:
            held_out.add(value, example.source)
    kept_hashes, kept = HashIndex(), []
    for example in train:
        report = by_spec[example.source]
        value = _hash(example)
        if value is None:
            report.unreadable += 1
        elif held_out.nearest(value, distance):
            report.leaks += 1
        elif kept_hashes.nearest(value, distance):
            report.duplicates += 1
        else:
            kept_hashes.add(value, example.source)
            kept.append(example)
            report.kept += 1
    if not kept:
        raise DataError("no training photos are left after removing near-duplicates of the validation photos")
    return MergedData(DatasetDict(train=examples_dataset(kept), validation=examples_dataset(validation)), reports)
