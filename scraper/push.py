"""``python -m scraper push``: publish a labelled image folder to the Hub as a dataset with a generated card.

Example::

    HF_TOKEN=hf_... python -m scraper push --data data/rooms --repo alice/rooms [--private]

``--data`` is ``DIR/train/<label>/`` + ``DIR/validation/<label>/`` (what ``python -m scraper split``
writes), or a flat ``DIR/<label>/`` from which a stratified, seeded validation split is held out.
The dataset gets ``train`` and ``validation`` splits with ``image`` and a ``label``
``ClassLabel(names=["clean", "messy"])``; the card is generated from the data and from
``DIR/manifest.jsonl`` when present. ``python -m training --data alice/rooms`` trains from it.
Pushing again replaces the data and the card in place.

A feedback folder (``FEEDBACK_DIR``, the 👍/👎 corrections of the Space and the bot) is pushed as
it is, in the layout the apps' background push (``FEEDBACK_REPO``) uses: ``<label>/*.jpg`` plus
``records/*.jsonl``, with a card that says what it is (user corrections, per source, per label,
model right/wrong). Training reads it as train-only data:
``python -m training --data BASE --data alice/feedback``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from cleanmessy import settings
from cleanmessy.errors import CleanMessyError
from cleanmessy.hub import hub_errors, repo_url
from scraper.dataset_card import DEFAULT_LICENSE, read_provenance, render_card, split_counts

log = logging.getLogger(__name__)


def _front_matter(readme: str) -> dict:
    """The YAML metadata of a card, or ``{}``."""
    if not readme.startswith("---"):
        return {}
    _, header, _ = readme.split("---", 2)
    return yaml.safe_load(header) or {}


SHARD_BYTES = 500 * 2**20
"""Aim for parquet shards of about this size (the Hub's own default for ``push_to_hub``)."""


def shard_count(total_bytes: int, shard_bytes: int = SHARD_BYTES) -> int:
    """How many shards for ``total_bytes``: the next power of two at or above ``total_bytes / shard_bytes``.

    A power of two divides evenly among 1, 2, 4, 8, ... workers, which is when
    ``datasets.distributed.split_dataset_by_node`` can hand each worker whole shards.

    >>> shard_count(10 * 2**20), shard_count(3 * SHARD_BYTES), shard_count(9 * SHARD_BYTES)
    (1, 4, 16)
    """
    needed = max(1, -(-total_bytes // shard_bytes))
    return 1 << (needed - 1).bit_length()


def _bytes_of(split) -> int:
    """Bytes of the image files behind a split loaded by ``load_image_folder`` (paths, undecoded)."""
    from datasets import Image

    files = split.cast_column("image", Image(decode=False))["image"]
    return sum(len(item["bytes"]) if item.get("bytes") else Path(item["path"]).stat().st_size for item in files)


def push_dataset(
    data: Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    license: str = DEFAULT_LICENSE,
    validation_fraction: float = 0.2,
    seed: int = 0,
    num_shards: int | None = None,
) -> str:
    """Push ``data`` as a train/validation ``DatasetDict`` plus its card to ``repo_id``; return the repo URL.

    The train split is written as ``num_shards`` parquet files (default: :func:`shard_count`), so
    that training or batch jobs on N workers can each stream their own shards.

    Raises ``ImageFolderError`` for a bad layout and ``HubAccessError`` (one line, no token) for Hub failures.
    """
    from huggingface_hub import HfApi, hf_hub_download

    from cleanmessy.feedback import is_feedback_folder
    from cleanmessy.imagefolder import load_image_folder

    if is_feedback_folder(data):
        return push_feedback(data, repo_id, private=private, token=token)
    splits = load_image_folder(data, validation_fraction=validation_fraction, seed=seed)
    counts = split_counts(splits)
    provenance = read_provenance(Path(data) / "manifest.jsonl")
    api = HfApi(token=token)
    with hub_errors(repo_id, "dataset", action="push to", token=token):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        shards = {name: 1 for name in splits}
        shards["train"] = min(num_shards or shard_count(_bytes_of(splits["train"])), len(splits["train"]))
        splits.push_to_hub(repo_id, private=private, token=token, num_shards=shards,
                           commit_message="Upload clean/messy images")
        pushed = Path(hf_hub_download(repo_id, "README.md", repo_type="dataset", token=token)).read_text("utf-8")
        card = render_card(repo_id, counts, provenance, license, hub_metadata=_front_matter(pushed))
        api.upload_file(
            path_or_fileobj=card.encode("utf-8"),
            path_in_repo="README.md",
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Dataset card generated from the data",
        )
    return repo_url(repo_id, "dataset")


def push_feedback(data: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Push a feedback folder as-is (photos and records) with a feedback card; return the repo URL."""
    from huggingface_hub import HfApi

    from cleanmessy.feedback import RECORDS_DIR, read_feedback_records
    from cleanmessy.feedback_card import render_feedback_card
    from cleanmessy.labels import LABELS

    api = HfApi(token=token)
    with hub_errors(repo_id, "dataset", action="push to", token=token):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=data,
                          allow_patterns=[*(f"{label}/*.jpg" for label in LABELS), f"{RECORDS_DIR}/*.jsonl",
                                          "manifest.jsonl"],
                          commit_message="Upload user feedback")
        card = render_feedback_card(repo_id, read_feedback_records(data))
        api.upload_file(path_or_fileobj=card.encode("utf-8"), path_in_repo="README.md", repo_id=repo_id,
                        repo_type="dataset", commit_message="Feedback dataset card generated from the records")
    return repo_url(repo_id, "dataset")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``push``'s options to ``parser``."""
    parser.add_argument("--data", required=True, type=Path,
                        help="image folder: DIR/train/<label>/ + DIR/validation/<label>/, or DIR/<label>/; or a feedback "
                             "folder (FEEDBACK_DIR), pushed as-is with a feedback card")
    parser.add_argument("--repo", required=True, help="Hub dataset repo to create or update (user/name)")
    parser.add_argument("--private", action="store_true", help="create the repo private (ignored if it exists)")
    settings.add_flag(parser, "HF_TOKEN", dest="token")
    parser.add_argument("--license", default=DEFAULT_LICENSE, help="license id for the card (default: %(default)s)")
    parser.add_argument("--validation-fraction", type=float, default=0.2,
                        help="share held out for validation when DIR has no validation/ (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that hold-out (default: %(default)s)")
    parser.add_argument("--num-shards", type=int, default=None,
                        help="parquet files for the train split (default: about 500 MB each, rounded up to a power "
                             "of two so that 1, 2, 4, 8 ... workers each stream whole shards)")


def run(args: argparse.Namespace) -> int:
    """Push and print the dataset URL; on failure print one line (never the token) and return 2."""
    token = settings.resolve(args.token, "HF_TOKEN")
    for noisy in ("httpx", "httpx2", "huggingface_hub"):  # one line per HTTP request at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        url = push_dataset(args.data, args.repo, private=args.private, token=token, license=args.license,
                           validation_fraction=args.validation_fraction, seed=args.seed,
                           num_shards=args.num_shards)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"==> pushed {args.data} to {url}")
    print(f"    train from it: python -m training --data {args.repo}")
    return 0
