"""Read the project's image-folder layout into a ``datasets.DatasetDict``.

Accepted layouts (file names are free; any image extension Pillow reads):

    DIR/train/{clean,messy}/*  DIR/validation/{clean,messy}/*    -> both splits as they are
    DIR/{clean,messy}/*                                          -> a stratified, seeded hold-out

Labels are always ``ClassLabel(names=["clean", "messy"])`` (clean=0, messy=1), whatever
the folder order on disk. Images stay as paths until a ``datasets.Image`` decodes them.
"""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Image

from cleanmessy.errors import CleanMessyError
from cleanmessy.labels import LABELS
from cleanmessy.model_files import IMAGE_SUFFIXES

SPLIT_NAMES = ("train", "validation")
FEATURES = Features({"image": Image(), "label": ClassLabel(names=list(LABELS))})


class ImageFolderError(CleanMessyError, ValueError):
    """The directory does not have the clean/messy image-folder layout."""


def _split_from(folder: Path) -> Dataset:
    paths, labels = [], []
    for label_id, label in enumerate(LABELS):
        files = sorted(p for p in (folder / label).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += [str(p) for p in files]
        labels += [label_id] * len(files)
    if not paths:
        raise ImageFolderError(f"{folder} has no images under {'/ or '.join(LABELS)}/")
    return Dataset.from_dict({"image": paths, "label": labels}, features=FEATURES)


def load_image_folder(path: str | Path, validation_fraction: float = 0.2, seed: int = 0) -> DatasetDict:
    """Load ``path`` as ``DatasetDict(train=..., validation=...)``; see the module docstring for layouts."""
    root = Path(path)
    if not root.is_dir():
        raise ImageFolderError(f"{root} is not a directory")
    if all((root / split).is_dir() for split in SPLIT_NAMES):
        return DatasetDict({split: _split_from(root / split) for split in SPLIT_NAMES})
    if (root / "train").is_dir():
        root = root / "train"
    if not any((root / label).is_dir() for label in LABELS):
        raise ImageFolderError(
            f"{root} should contain clean/ and messy/ folders (or train/ and validation/ with those inside)"
        )
    images = _split_from(root)
    try:
        held_out = images.train_test_split(test_size=validation_fraction, stratify_by_column="label", seed=seed)
    except ValueError as error:
        raise ImageFolderError(
            f"{root} has too few images ({len(images)}) to hold out a stratified {validation_fraction:.0%} "
            "validation split: add images, or provide train/ and validation/ folders"
        ) from error
    return DatasetDict(train=held_out["train"], validation=held_out["test"])
