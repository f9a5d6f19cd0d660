"""Promote a candidate model only if it is not worse than the one being served.

    python -m training.promote --candidate models/candidate --current alice/clean-or-messy@v2 \\
        --eval ../shared/data/rooms --push-to-hub alice/clean-or-messy

Both models classify the same fixed evaluation photos (the ``validation/`` split of ``--eval``,
or every photo of a flat ``clean/`` + ``messy/`` folder, or a Hub dataset's validation split).
Accuracy, macro F1 and calibration error (ECE) are printed side by side (with the "not a room"
rates when both models have that gate: the share of evaluation rooms it flags, and the gate's own
measured rates) and written into the candidate's card
(``README.md``) and ``eval/promotion.json``.

The rule (evaluation sets are small, so it looks at the noise, on the same photos):

    Let b = photos the current model gets right and the candidate gets wrong, and
    c = the reverse. The candidate is REFUSED when its accuracy is lower and the one-sided exact
    McNemar test (a binomial test of b against b + c at p = 1/2) gives p < ALPHA (default 0.05):
    it is worse beyond what chance disagreement on these photos explains. Otherwise it is
    ACCEPTED. A 95% paired-bootstrap interval of the accuracy difference is reported beside it.

Accepted with ``--push-to-hub``: the candidate (card included) is pushed, and the new commit is
tagged with the next free ``vN`` tag; serve it with ``MODEL_REVISION=vN``. Refused: nothing is
pushed, the reason is printed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cleanmessy.errors import CleanMessyError, exit_status

DEFAULT_ALPHA = 0.05
BOOTSTRAP_SAMPLES = 2000
CARD_START, CARD_END = "<!-- promotion -->", "<!-- /promotion -->"
TAG_PATTERN = re.compile(r"v(\d+)")


@dataclass
class Decision:
    """The paired comparison and the verdict of the rule."""

    accepted: bool
    reason: str
    examples: int
    current_only_right: int  # b
    candidate_only_right: int  # c
    p_value: float
    difference: float
    interval: tuple[float, float]


def mcnemar_worse_p(current_only_right: int, candidate_only_right: int) -> float:
    """One-sided exact McNemar p-value that the candidate is worse: P(X >= b), X ~ Binomial(b + c, 1/2)."""
    b, n = current_only_right, current_only_right + candidate_only_right
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n


def paired_bootstrap(current_right: np.ndarray, candidate_right: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% interval of accuracy(candidate) - accuracy(current), resampling the same photos for both."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(current_right), size=(BOOTSTRAP_SAMPLES, len(current_right)))
    differences = candidate_right[picks].mean(axis=1) - current_right[picks].mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def decide(labels: np.ndarray, current_probabilities: np.ndarray, candidate_probabilities: np.ndarray,
           alpha: float = DEFAULT_ALPHA, seed: int = 0) -> Decision:
    """Apply the module's rule to both models' probabilities on the same photos."""
    current_right = current_probabilities.argmax(axis=1) == labels
    candidate_right = candidate_probabilities.argmax(axis=1) == labels
    b = int((current_right & ~candidate_right).sum())
    c = int((candidate_right & ~current_right).sum())
    p_value = mcnemar_worse_p(b, c)
    difference = float(candidate_right.mean() - current_right.mean())
    interval = paired_bootstrap(current_right, candidate_right, seed)
    worse_beyond_noise = difference < 0 and p_value < alpha
    if worse_beyond_noise:
        reason = (f"the candidate is worse beyond noise: {difference:+.1%} accuracy on the same {len(labels)} photos "
                  f"({b} it gets wrong that the current model gets right, {c} the reverse; one-sided exact "
                  f"McNemar p = {p_value:.3g} < {alpha})")
    else:
        reason = (f"the candidate is not worse beyond noise: {difference:+.1%} accuracy on the same {len(labels)} "
                  f"photos ({b} lost, {c} gained; one-sided exact McNemar p = {p_value:.3g}, refused below {alpha})")
    return Decision(not worse_beyond_noise, reason, len(labels), b, c, p_value, difference, interval)


def load_eval_split(spec: str, seed: int = 0):
    """The fixed evaluation photos of ``spec`` as an undecoded ``Dataset`` with a clean/messy ``label``."""
    from cleanmessy.labels import LABELS
    from training.data import VALIDATION_NAMES, load_training_data
    from training.sources import examples_dataset, folder_examples

    local = Path(spec)
    if local.is_dir() and not any((local / name).is_dir() for name in VALIDATION_NAMES):
        if any((local / label).is_dir() for label in LABELS):
            return examples_dataset(folder_examples(local, spec))
    return load_training_data(spec, seed=seed)["validation"]


def score(model: str, revision: str | None, split) -> tuple[np.ndarray, dict, str, Path]:
    """``(probabilities, metrics, description, local path)`` of one model on ``split`` (PyTorch weights)."""
    from cleanmessy.predictor import Predictor
    from training.evaluate import predict_split
    from training.metrics import classification_metrics

    predictor = Predictor.load(model, backend="eager", revision=revision)
    probabilities = predict_split(predictor, split)
    metrics = classification_metrics(list(split["label"]), probabilities, predictor.labels)
    metrics.update(gate_rates(predictor, split))
    return probabilities, metrics, predictor.served.describe(), Path(predictor.served.path)


def gate_rates(predictor, split) -> dict[str, float]:
    """For a model with a "not a room" gate: the share of the evaluation rooms it flags, and the gate's own
    measured rates (numbers in its ``info``), each under a ``not_a_room_…`` key; ``{}`` without a gate."""
    from cleanmessy.images import load_image
    from training.data import encoded

    gate = getattr(predictor, "gate", None)
    if gate is None:
        return {}
    flagged = [predictor.predict(load_image(encoded(image))).not_a_room for image in split["image"]]
    rates = {"not_a_room_eval_rooms_flagged": float(np.mean(flagged))}
    for key, value in (getattr(gate, "info", None) or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rates[f"not_a_room_{key}"] = float(value)
    return rates


def comparison_rows(current: dict, candidate: dict) -> list[tuple[str, str, str]]:
    """``(metric, current, candidate)`` rows for the table."""
    rows = [
        ("accuracy", f"{current['accuracy']:.1%} ({current['correct']}/{current['num_examples']})",
         f"{candidate['accuracy']:.1%} ({candidate['correct']}/{candidate['num_examples']})"),
        ("macro F1", f"{current['macro_f1']:.3f}", f"{candidate['macro_f1']:.3f}"),
        ("ECE (lower is better)", f"{current['expected_calibration_error']:.3f}",
         f"{candidate['expected_calibration_error']:.3f}"),
    ]
    for key in sorted(k for k in candidate if k.startswith("not_a_room") and k in current):
        rows.append((key.replace("_", " "), _plain(current[key]), _plain(candidate[key])))
    return rows


def _plain(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else json.dumps(value)


def render_comparison(names: tuple[str, str], rows, decision: Decision, eval_name: str) -> str:
    """The markdown section written into the candidate's card."""
    table = "\n".join(f"| {metric} | {current} | {candidate} |" for metric, current, candidate in rows)
    low, high = decision.interval
    verdict = "accepted" if decision.accepted else "refused"
    return (f"{CARD_START}\n## Promotion check\n\nCompared with the model it would replace, on the same "
            f"{decision.examples} evaluation photos ({eval_name}):\n\n"
            f"| metric | current: `{names[0]}` | this model |\n|---|---|---|\n{table}\n\n"
            f"Accuracy difference {decision.difference:+.1%} (95% paired bootstrap interval {low:+.1%} to {high:+.1%}). "
            f"**{verdict.capitalize()}**: {decision.reason}. Rule: `python -m training.promote --help`.\n{CARD_END}\n")


def write_into_card(candidate: Path, section: str) -> None:
    """Put ``section`` into ``candidate/README.md``, replacing an earlier promotion check."""
    card = candidate / "README.md"
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    if CARD_START in text:
        before, rest = text.split(CARD_START, 1)
        text = before + rest.split(CARD_END, 1)[-1].lstrip("\n")
    card.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")


def next_tag(repo_id: str, token: str | None = None) -> str:
    """The next free ``vN`` tag of a model repo (``v1`` when it has none)."""
    from huggingface_hub import HfApi

    tags = HfApi(token=token).list_repo_refs(repo_id).tags
    numbers = [int(match.group(1)) for tag in tags if (match := TAG_PATTERN.fullmatch(tag.name))]
    return f"v{max(numbers, default=0) + 1}"


def push_and_tag(candidate: Path, repo_id: str, *, private: bool = False, token: str | None = None,
                 message: str = "") -> tuple[str, str]:
    """Push the candidate, tag the commit it made with the next ``vN``; return ``(tag, commit)``."""
    from huggingface_hub import HfApi

    from cleanmessy.hub import hub_errors
    from training.publish import push_model

    push_model(candidate, repo_id, private=private, token=token)
    api = HfApi(token=token)
    with hub_errors(repo_id, "model", action="push to", token=token):
        commit = api.model_info(repo_id).sha
        tag = next_tag(repo_id, token)
        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message or None)
    return tag, commit


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.promote", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", required=True, type=Path, help="the newly trained model directory")
    parser.add_argument("--current", required=True, metavar="REPO_OR_DIR[@REVISION]",
                        help="the model it would replace: a Hub repo (optionally @tag, @branch or @commit) or a "
                             "local model directory")
    parser.add_argument("--eval", required=True, metavar="DATA",
                        help="fixed evaluation data: image folder (its validation/ split, or every photo of a flat "
                             "clean/ + messy/ folder) or a Hub dataset id (its validation split)")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help="if accepted, push the candidate here and tag the commit with the next vN")
    parser.add_argument("--private", action="store_true", help="create the pushed repo private")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help="refuse when the candidate is worse with one-sided McNemar p below this (default 0.05)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (and of a held-out eval split)")
    return parser


def run(args: argparse.Namespace) -> int:
    from cleanmessy import settings
    from cleanmessy.model_source import split_revision

    if not 0 < args.alpha < 1:
        raise CleanMessyError(f"--alpha must be between 0 and 1, got {args.alpha}")
    split = load_eval_split(args.eval, args.seed)
    labels = np.asarray(split["label"])
    current_id, current_revision = split_revision(args.current)
    current_probabilities, current_metrics, current_name, _ = score(current_id, current_revision, split)
    candidate_probabilities, candidate_metrics, _, _ = score(str(args.candidate), None, split)
    decision = decide(labels, current_probabilities, candidate_probabilities, args.alpha, args.seed)
    rows = comparison_rows(current_metrics, candidate_metrics)

    width = max(len(current_name), 22)
    print(f"==> evaluation: {args.eval}: {len(labels)} photos")
    print(f"{'':24}{'current: ' + current_name:<{width + 11}}candidate: {args.candidate}")
    for metric, current, candidate in rows:
        print(f"{metric:<24}{current:<{width + 11}}{candidate}")
    low, high = decision.interval
    print(f"accuracy difference {decision.difference:+.1%} (95% paired bootstrap {low:+.1%} to {high:+.1%})")

    write_into_card(args.candidate, render_comparison((current_name, str(args.candidate)), rows, decision, args.eval))
    (args.candidate / "eval").mkdir(parents=True, exist_ok=True)
    (args.candidate / "eval" / "promotion.json").write_text(json.dumps(
        {"current": current_name, "eval": args.eval, "current_metrics": current_metrics,
         "candidate_metrics": candidate_metrics, **asdict(decision)}, indent=2, default=float) + "\n")
    if not decision.accepted:
        print(f"refused: {decision.reason}", file=sys.stderr)
        return 1
    print(f"==> accepted: {decision.reason}")
    if args.push_to_hub:
        tag, commit = push_and_tag(args.candidate, args.push_to_hub, private=args.private, token=settings.hf_token(),
                                   message=f"promoted over {current_name}: {decision.reason}")
        print(f"==> pushed {args.push_to_hub} commit {commit[:12]}, tagged {tag}")
        print(f"    serve it: MODEL_ID={args.push_to_hub} MODEL_REVISION={tag}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 accepted, 1 refused (with the reason), 2 for errors."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
