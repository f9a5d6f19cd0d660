"""Load the training data from a local image folder or a Hub dataset id, as a train/validation DatasetDict.

Images are kept undecoded (bytes or paths) so that training and evaluation run them
through the same intake as serving: :func:`cleanmessy.images.load_image`.
"""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, DatasetDict, Image, IterableDataset, load_dataset, load_dataset_builder

from cleanmessy.errors import CleanMessyError
from cleanmessy.imagefolder import load_image_folder
from cleanmessy.labels import LABELS
from cleanmessy.model_files import is_hub_id

VALIDATION_NAMES = ("validation", "valid", "val", "test")


class DataError(CleanMessyError, ValueError):
    """The dataset is missing, empty or not labelled clean/messy."""


def ensure_validation(splits: DatasetDict, fraction: float, seed: int) -> DatasetDict:
    """Return ``{train, validation}``; hold out a stratified ``fraction`` of train if there is no validation split."""
    if "train" not in splits:
        raise DataError(f"the dataset has no 'train' split (it has: {', '.join(splits) or 'none'})")
    for name in VALIDATION_NAMES:
        if name in splits:
            return DatasetDict(train=splits["train"], validation=splits[name])
    held_out = splits["train"].train_test_split(test_size=fraction, stratify_by_column="label", seed=seed)
    return DatasetDict(train=held_out["train"], validation=held_out["test"])


def check_labels(splits: DatasetDict) -> None:
    """Raise unless every split has an ``image`` column and a ``label`` ClassLabel named clean/messy."""
    for name, split in splits.items():
        feature = split.features.get("label")
        if "image" not in split.features or not isinstance(feature, ClassLabel):
            raise DataError(f"split {name!r} needs an 'image' column and a ClassLabel 'label' column")
        if tuple(feature.names) != LABELS:
            raise DataError(f"split {name!r} has labels {feature.names}; expected {list(LABELS)}")
        if not isinstance(split, IterableDataset) and len(split) == 0:
            raise DataError(f"split {name!r} is empty")


def load_training_data(source: str, validation_fraction: float = 0.2, seed: int = 0) -> DatasetDict:
    """Load ``source`` (an image-folder directory or a Hub dataset id) with undecoded images."""
    if Path(source).is_dir():
        splits = load_image_folder(source, validation_fraction=validation_fraction, seed=seed)
    elif not is_hub_id(source):
        raise DataError(f"{source!r} is neither an image-folder directory nor a Hub dataset id (user/name)")
    else:
        splits = load_dataset(source)
    splits = ensure_validation(DatasetDict(splits), validation_fraction, seed)
    check_labels(splits)
    return splits.cast_column("image", Image(decode=False))


def encoded(example_image: dict) -> bytes | str:
    """The raw bytes (or path) of an undecoded ``datasets.Image`` value, for ``load_image``."""
    return example_image.get("bytes") or example_image["path"]


def load_streaming_data(source: str) -> DatasetDict:
    """A Hub dataset with its train split streamed (never held in memory or on disk) and its validation split loaded.

    Each training process later reads only its own parquet shards of the stream (the Trainer's
    accelerate data loader shards a streamed ``datasets`` split by file when the shard count
    divides among the processes; ``python -m scraper push`` writes a power-of-two count).
    """
    if Path(source).exists() or source.count("/") != 1:
        raise DataError(f"--streaming needs a Hub dataset id (user/name), got {source!r}")
    train = load_dataset(source, split="train", streaming=True)
    validation = next((load_dataset(source, split=name) for name in VALIDATION_NAMES
                       if name in load_dataset_builder(source).info.splits), None)
    if validation is None:
        raise DataError(f"{source} has no validation split; a streamed train split cannot be held out from. "
                        "Push the data with `python -m scraper push`, which writes one")
    splits = DatasetDict(train=train, validation=validation)
    check_labels(splits)
    return DatasetDict({name: split.cast_column("image", Image(decode=False)) for name, split in splits.items()})


def example_count(split, source: str | None = None) -> int:
    """Rows in a split; for a streamed train split, the count the Hub dataset's metadata records."""
    if not isinstance(split, IterableDataset):
        return len(split)
    info = load_dataset_builder(source).info.splits or {}
    if "train" not in info or not info["train"].num_examples:
        raise DataError(f"{source} does not record how many training photos it has: pass --steps")
    return info["train"].num_examples
