"""Classify a whole dataset, a Hub dataset id or a local image folder, into one parquet file, resumably.

    python -m cleanmessy.batch --dataset user/rooms --split train --out results.parquet --num-proc 2
    python -m cleanmessy.batch --dataset user/big-photos --streaming --out results.parquet

The photos go through ``datasets.map(batched=True, num_proc=N)``: each worker process loads the
predictor once (the int8 ONNX model when the model has it) and classifies its batches through the
core's per-photo intake, so a bad photo becomes a row with an ``error``, never a crash. Every
finished batch is written at once to ``<out>.parts/``; a rerun skips the rows already there (or in
``<out>``), and the parts are merged into ``<out>`` at the end. Columns: ``id`` (``split/index``),
``index``, ``path`` (the photo's file name when the dataset has one), ``label``, ``confidence``,
``score_clean``, ``score_messy``, ``unsure``, ``not_a_room`` and ``error``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from cleanmessy import settings
from cleanmessy.errors import CleanMessyError
from cleanmessy.verdict import Verdict

COLUMNS = ("id", "index", "path", "label", "confidence", "score_clean", "score_messy", "unsure", "not_a_room", "error")
SCHEMA = pa.schema([
    ("id", pa.string()), ("index", pa.int64()), ("path", pa.string()), ("label", pa.string()),
    ("confidence", pa.float64()), ("score_clean", pa.float64()), ("score_messy", pa.float64()),
    ("unsure", pa.bool_()), ("not_a_room", pa.bool_()), ("error", pa.string()),
])


class BatchError(CleanMessyError, ValueError):
    """The dataset cannot be read, or the output cannot be written."""


@dataclass(frozen=True)
class Job:
    """What one batch-classification run needs in every worker process."""

    model: str
    split: str
    out: Path
    threads: int
    done: frozenset[int] = frozenset()

    @property
    def parts(self) -> Path:
        """The folder where finished batches land before the final merge."""
        return self.out.with_name(self.out.name + ".parts")


_predictors: dict[tuple[str, int], object] = {}


def _predictor(job: Job):
    """This process's predictor for ``job.model``, loaded on first use (after the fork, never in the parent)."""
    key = (job.model, job.threads)
    if key not in _predictors:
        from cleanmessy.predictor import Predictor

        _predictors[key] = Predictor.load(job.model, threads=job.threads)
    return _predictors[key]


def result_row(photo_id: str, index: int, path: str | None, outcome: Verdict | CleanMessyError) -> dict:
    """One output row for a verdict, or for the error that kept the photo from one."""
    if isinstance(outcome, Verdict):
        answer = outcome.to_dict()
        return {"id": photo_id, "index": index, "path": path, "label": answer["label"],
                "confidence": answer["confidence"], "score_clean": answer["scores"]["clean"],
                "score_messy": answer["scores"]["messy"], "unsure": answer["unsure"],
                "not_a_room": bool(answer.get("not_a_room", False)), "error": None}
    return {"id": photo_id, "index": index, "path": path, "label": None, "confidence": None, "score_clean": None,
            "score_messy": None, "unsure": None, "not_a_room": None, "error": str(outcome)}


def _source(image: dict) -> bytes | str:
    return image.get("bytes") or image["path"]


def classify_batch(batch: dict, indices: list[int], job: Job) -> dict:
    """``datasets.map`` function: classify the rows not done yet and write them as one parquet part."""
    from cleanmessy.intake import classify_photos

    todo = [(i, image) for i, image in zip(indices, batch["image"]) if i not in job.done]
    if todo:
        outcomes = classify_photos(_predictor(job), [_source(image) for _, image in todo])
        rows = [result_row(f"{job.split}/{i}", i, image.get("path"), outcome)
                for (i, image), outcome in zip(todo, outcomes)]
        job.parts.mkdir(parents=True, exist_ok=True)
        part = job.parts / f"part-{todo[0][0]:010d}-{uuid.uuid4().hex[:8]}.parquet"
        temporary = part.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), temporary)
        os.replace(temporary, part)  # a part is either whole or absent, whatever kills the process
    return {"index": [i for i, _ in todo]}


def _tables(job: Job) -> list[pa.Table]:
    tables = [pq.read_table(job.out, schema=SCHEMA)] if job.out.is_file() else []
    if job.parts.is_dir():
        tables += [pq.read_table(part, schema=SCHEMA) for part in sorted(job.parts.glob("*.parquet"))]
    return tables


def finished_indices(job: Job) -> frozenset[int]:
    """Row indices already classified by an earlier (maybe interrupted) run of the same job."""
    return frozenset(index for table in _tables(job) for index in table.column("index").to_pylist())


def merge_parts(job: Job) -> pa.Table:
    """Write every finished row to ``job.out`` (sorted by index, one row per index) and remove the parts."""
    tables = _tables(job)
    table = pa.concat_tables(tables) if tables else SCHEMA.empty_table()
    table = table.sort_by("index")
    keep, seen = [], set()
    for position, index in enumerate(table.column("index").to_pylist()):
        if index not in seen:
            seen.add(index)
            keep.append(position)
    table = table.take(keep)
    temporary = job.out.with_name(job.out.name + ".tmp")
    pq.write_table(table, temporary)
    os.replace(temporary, job.out)
    if job.parts.is_dir():
        for part in job.parts.iterdir():
            part.unlink()
        job.parts.rmdir()
    return table


def load_photos(dataset: str, split: str, *, streaming: bool = False):
    """The ``image`` column of ``dataset`` (Hub id or local folder), undecoded, as a (streamed) ``datasets`` split."""
    from datasets import Image, load_dataset

    try:
        if Path(dataset).is_dir():
            photos = load_dataset("imagefolder", data_dir=dataset, split=split, streaming=streaming)
        else:
            photos = load_dataset(dataset, split=split, streaming=streaming, token=settings.hf_token())
    except (FileNotFoundError, ValueError) as error:
        raise BatchError(f"cannot read split {split!r} of {dataset!r}: {error}") from error
    features = photos.features or {}
    if "image" not in features:
        raise BatchError(f"{dataset!r} has no 'image' column (columns: {', '.join(features) or 'unknown'})")
    photos = photos.cast_column("image", Image(decode=False))
    return photos.select_columns(["image"])


def run_batch(dataset: str, out: Path, *, model: str | None = None, split: str = "train", num_proc: int = 1,
              batch_size: int = 32, streaming: bool = False) -> pa.Table:
    """Classify every photo of ``dataset``'s ``split`` into ``out`` (parquet), resuming from earlier parts."""
    if out.suffix != ".parquet":
        raise BatchError(f"--out must end in .parquet, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    threads = max(1, settings.threads() // max(1, num_proc))
    job = Job(model=model or settings.model_id(), split=split, out=out, threads=threads)
    job = Job(**{**job.__dict__, "done": finished_indices(job)})
    photos = load_photos(dataset, split, streaming=streaming)
    if streaming:
        from tqdm import tqdm

        mapped = photos.map(classify_batch, batched=True, batch_size=batch_size, with_indices=True,
                            fn_kwargs={"job": job}, remove_columns=["image"])
        for _ in tqdm(mapped, desc="classify (streaming)", unit="photo"):
            pass
    else:
        photos.map(classify_batch, batched=True, batch_size=batch_size, with_indices=True, num_proc=num_proc,
                   fn_kwargs={"job": job}, remove_columns=["image"], load_from_cache_file=False,
                   keep_in_memory=True, desc=f"classify ({num_proc} process{'es' if num_proc > 1 else ''})")
    return merge_parts(job)


def summary(table: pa.Table) -> str:
    """A short table of what the run found."""
    rows = table.to_pylist()
    labels = Counter(row["label"] for row in rows if row["error"] is None)
    lines = [f"{'photos':<12}{len(rows):>8}"]
    lines += [f"{label:<12}{labels[label]:>8}" for label in sorted(labels)]
    lines.append(f"{'not a room':<12}{sum(bool(row['not_a_room']) for row in rows):>8}")
    lines.append(f"{'hard to say':<12}{sum(bool(row['unsure']) for row in rows):>8}")
    lines.append(f"{'errors':<12}{sum(row['error'] is not None for row in rows):>8}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Flags for ``python -m cleanmessy.batch``."""
    parser = argparse.ArgumentParser(prog="python -m cleanmessy.batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="Hub dataset id (user/name) or a local image folder")
    parser.add_argument("--split", default="train", help="split to classify (default: %(default)s)")
    parser.add_argument("--out", required=True, type=Path, help="results file (.parquet); a rerun resumes it")
    parser.add_argument("--model", default=None, help="model to use (default: $MODEL_ID, else models/clean-or-messy)")
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes (datasets.map num_proc; default: 1)")
    parser.add_argument("--batch-size", type=int, default=32, help="photos per forward pass (default: %(default)s)")
    parser.add_argument("--streaming", action="store_true",
                        help="stream the dataset instead of downloading it first (one process)")
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    """Entry point: print a summary, or one line of error and exit 2."""
    args = build_parser().parse_args(None if argv is None else list(argv))
    if args.num_proc < 1 or args.batch_size < 1:
        print("error: --num-proc and --batch-size must be at least 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        table = run_batch(args.dataset, args.out, model=args.model, split=args.split, num_proc=args.num_proc,
                          batch_size=args.batch_size, streaming=args.streaming)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(summary(table))
    print(f"==> {args.out} ({table.num_rows} rows, {seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
