"""The ``clean-or-messy`` command (installed by ``pip install -e .``; also ``python -m cleanmessy.cli``).

    clean-or-messy predict room.jpg photos/ "shots/**/*.png" [--json | --csv] [--model ID]
    clean-or-messy serve  [flags of the Space]      (= python space/app.py)
    clean-or-messy bot    [flags of the bot]        (= python -m bot)
    clean-or-messy train  [flags of training]       (= python -m training)

``predict`` takes files, folders (their images, recursively) and globs, shows a progress bar on a
terminal, and prints one row per photo and a summary; ``--json`` and ``--csv`` print machine-readable
rows instead. It exits 0 when every photo got a verdict, 1 when some could not be read, 2 when the
model could not be loaded. ``serve``, ``bot`` and ``train`` hand their arguments to those programs;
they are imported only when chosen (this module imports no adapter at load time).
"""

from __future__ import annotations

import argparse
import csv
import glob
import importlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence, TextIO

from cleanmessy.errors import CleanMessyError
from cleanmessy.labels import LABELS
from cleanmessy.model_files import IMAGE_SUFFIXES
from cleanmessy.verdict import Verdict

BATCH = 16
"""Photos per forward pass."""

PROGRAMS = {
    "serve": ("space.app", "serve the Gradio app (the Space)"),
    "bot": ("bot.cli", "run the Telegram bot"),
    "train": ("training.cli", "fine-tune, evaluate and document a model"),
}
"""Subcommands that are other programs: module with ``main(argv)``, and a one-line help."""

Result = Verdict | CleanMessyError


def expand(patterns: Iterable[str]) -> list[Path | str]:
    """Photos named by files, folders (every image inside, recursively) and globs, in order, without repeats.

    A pattern that names nothing is kept as a string, so it is reported as missing.
    """
    found: dict[Path | str, None] = {}
    for pattern in patterns:
        matches = [Path(pattern)] if Path(pattern).exists() else [Path(p) for p in sorted(glob.glob(pattern, recursive=True))]
        if not matches:
            found[pattern] = None
        for match in matches:
            if match.is_dir():
                found.update(dict.fromkeys(sorted(p for p in match.rglob("*")
                                                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)))
            else:
                found[match] = None
    return list(found)


def classify(predictor, photos: Sequence[Path | str], *, progress: bool | None = None) -> list[Result]:
    """The core's per-photo intake over ``photos``, ``BATCH`` at a time, with a progress bar on a terminal."""
    from tqdm import tqdm

    from cleanmessy.intake import classify_photos

    results: list[Result] = []
    with tqdm(total=len(photos), unit="photo", disable=None if progress is None else not progress,
              file=sys.stderr) as bar:
        for start in range(0, len(photos), BATCH):
            chunk = photos[start:start + BATCH]
            results += classify_photos(predictor, chunk)
            bar.update(len(chunk))
    return results


def rows(photos: Sequence[Path | str], results: Sequence[Result]) -> list[dict]:
    """One flat dict per photo: ``photo``, ``label``, ``confidence``, ``unsure``, a score per label, ``error``."""
    table = []
    for photo, result in zip(photos, results):
        row = {"photo": str(photo), "label": None, "confidence": None, "unsure": None,
               **{label: None for label in LABELS}, "error": None}
        if isinstance(result, Verdict):
            row.update(label=result.label, confidence=round(result.confidence, 4), unsure=result.unsure,
                       **{label: round(result.scores[label], 4) for label in LABELS})
        else:
            row["error"] = str(result)
        table.append(row)
    return table


def summary(results: Sequence[Result]) -> str:
    """``"5 photos: 2 clean, 2 messy, 1 hard to say, 0 unreadable"``."""
    counts = Counter("unreadable" if not isinstance(r, Verdict) else "hard to say" if r.unsure else r.label
                     for r in results)
    parts = [f"{counts[name]} {name}" for name in (*LABELS, "hard to say", "unreadable")]
    return f"{len(results)} photo{'s' if len(results) != 1 else ''}: " + ", ".join(parts)


def write_table(photos: Sequence[Path | str], results: Sequence[Result], out: TextIO) -> None:
    """A plain-text table for people, one photo a line, and the summary under it."""
    lines = [("photo", "verdict", *LABELS)]
    for photo, result in zip(photos, results):
        if isinstance(result, Verdict):
            lines.append((str(photo), result.headline, *(f"{result.scores[label]:.0%}" for label in LABELS)))
        else:
            lines.append((str(photo), f"error: {result}"))  # the last column: it may be long
    full = [line for line in lines if len(line) == len(lines[0])]
    widths = [max(len(line[0]) for line in lines), *(max(len(line[i]) for line in full) for i in range(1, len(lines[0])))]
    for line in lines:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() + "\n")
    out.write("\n" + summary(results) + "\n")


def predict(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The ``predict`` subcommand, printing to ``out`` (default: standard output)."""
    out = out or sys.stdout
    from cleanmessy.predictor import Predictor

    photos = expand(args.paths)
    try:
        predictor = Predictor.load(args.model)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = classify(predictor, [p if isinstance(p, Path) else Path(p) for p in photos])
    if args.format == "json":
        json.dump(rows(photos, results), out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        table = rows(photos, results)
        writer = csv.DictWriter(out, fieldnames=list(table[0]) if table else ["photo"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    else:
        write_table(photos, results, out)
    return 0 if all(isinstance(r, Verdict) for r in results) else 1


def build_parser() -> argparse.ArgumentParser:
    """``predict`` with its flags, and the other programs as pass-through subcommands."""
    parser = argparse.ArgumentParser(prog="clean-or-messy", description="Is this room clean or messy?")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("predict", help="classify photos: files, folders and globs",
                              description="Classify photos: files, folders (recursively) and globs.")
    one.add_argument("paths", nargs="*", metavar="PATH", help="image file, folder or glob (quote it: \"rooms/*.jpg\")")
    whole = one.add_argument_group("a whole dataset instead of PATHs (see python -m cleanmessy.batch)")
    whole.add_argument("--dataset", help="Hub dataset id or local image folder to classify into --out")
    whole.add_argument("--split", default="train", help="split of --dataset (default: %(default)s)")
    whole.add_argument("--out", type=Path, help="results file for --dataset (.parquet; a rerun resumes it)")
    whole.add_argument("--num-proc", type=int, default=1, help="worker processes for --dataset (default: 1)")
    whole.add_argument("--streaming", action="store_true", help="stream --dataset instead of downloading it")
    one.add_argument("--model", default=None, help="Hub id or model directory (default: $MODEL_ID, else models/clean-or-messy)")
    form = one.add_mutually_exclusive_group()
    form.add_argument("--json", dest="format", action="store_const", const="json", help="print a JSON list")
    form.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV rows")
    for name, (_, help_text) in PROGRAMS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    commands.add_parser("settings", help="print every environment variable: flag, default, meaning (a Markdown table)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the chosen subcommand; return its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PROGRAMS:
        module = importlib.import_module(PROGRAMS[argv[0]][0])
        return module.main(argv[1:]) or 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "settings":
        from cleanmessy.settings import markdown_table

        print(markdown_table(), end="")
        return 0
    if args.dataset:
        if args.paths or not args.out:
            parser.error("--dataset takes --out and no PATHs")
        from cleanmessy import batch

        return batch.main(["--dataset", args.dataset, "--split", args.split, "--out", str(args.out),
                           "--num-proc", str(args.num_proc), *(["--model", args.model] if args.model else []),
                           *(["--streaming"] if args.streaming else [])])
    if not args.paths:
        parser.error("give PATHs to photos, or --dataset")
    return predict(args)


if __name__ == "__main__":
    raise SystemExit(main())
