"""The learning loop's pieces: merging sources without leaks, the promotion rule, pinned revisions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cleanmessy.errors import ModelLoadError
from cleanmessy.feedback import FeedbackStore
from cleanmessy.model_info import read_model_info
from cleanmessy.model_source import resolve_model, split_revision
from cleanmessy.predictor import Predictor
from cleanmessy.verdict import Verdict
from tests.helpers import make_distinct_room_image, save_tiny_model, write_image_folder
from training.data import DataError
from training.promote import decide, mcnemar_worse_p, next_tag, write_into_card
from training.publish import push_model
from training.sources import merge_sources

VERDICT = Verdict("clean", 0.8, {"clean": 0.8, "messy": 0.2})


@pytest.fixture
def base(tmp_path):
    return write_image_folder(tmp_path / "base", per_class=3, make=make_distinct_room_image)


def test_a_near_duplicate_of_a_validation_photo_in_the_feedback_is_dropped_from_train(base, tmp_path):
    feedback = FeedbackStore(tmp_path / "feedback")
    validation_photo = Image.open(base / "validation" / "messy" / "messy-0.png")
    feedback.save(validation_photo.resize((130, 108)), VERDICT, "messy", source="space")  # leak
    feedback.save(Image.open(base / "train" / "clean" / "clean-1.png"), VERDICT, "clean", source="telegram")  # dup
    feedback.save(make_distinct_room_image(messy=True, seed=900), VERDICT, "messy", source="space")  # new

    merged = merge_sources([str(base), str(tmp_path / "feedback")])
    base_report, feedback_report = merged.sources
    assert (base_report.kind, base_report.train, base_report.validation, base_report.kept) == ("image folder", 6, 6, 6)
    assert (feedback_report.kind, feedback_report.train, feedback_report.validation) == ("feedback folder", 3, 0)
    assert (feedback_report.leaks, feedback_report.duplicates, feedback_report.kept) == (1, 1, 1)
    assert len(merged.splits["train"]) == 7 and len(merged.splits["validation"]) == 6
    assert "dropped from train: 1 near-duplicate(s) of validation photos, 1 near-duplicate(s)" in merged.summary()
    assert "| feedback folder | 3 | 0 | 1 | 1 | 1 |" in merged.card_table()


def test_feedback_alone_is_refused_since_it_is_never_validation(tmp_path):
    FeedbackStore(tmp_path).save(make_distinct_room_image(seed=1), VERDICT, "clean", source="space")
    with pytest.raises(DataError, match="feedback is never used for validation"):
        merge_sources([str(tmp_path)])


def test_mcnemar_on_known_values():
    assert mcnemar_worse_p(0, 0) == 1.0
    assert mcnemar_worse_p(5, 0) == pytest.approx(1 / 32)
    assert mcnemar_worse_p(3, 1) == pytest.approx(5 / 16)


def probabilities(right: list[bool], labels: np.ndarray) -> np.ndarray:
    predicted = np.where(right, labels, 1 - labels)
    return np.eye(2)[predicted] * 0.8 + 0.1


def test_the_rule_refuses_only_a_drop_beyond_noise():
    labels = np.array([0, 1] * 10)
    current = probabilities([True] * 20, labels)
    slightly_worse = probabilities([False, False] + [True] * 18, labels)  # 2 lost: p = 0.25
    much_worse = probabilities([False] * 8 + [True] * 12, labels)  # 8 lost: p = 0.004
    better = probabilities([True] * 20, labels)
    assert decide(labels, current, slightly_worse).accepted
    refused = decide(labels, current, much_worse)
    assert not refused.accepted and refused.current_only_right == 8 and "worse beyond noise" in refused.reason
    assert refused.interval[1] < 0 < decide(labels, probabilities([False] * 20, labels), better).interval[0]


def test_the_comparison_replaces_an_earlier_one_in_the_card(tmp_path):
    (tmp_path / "README.md").write_text("# model\n")
    write_into_card(tmp_path, "<!-- promotion -->\nfirst\n<!-- /promotion -->\n")
    write_into_card(tmp_path, "<!-- promotion -->\nsecond\n<!-- /promotion -->\n")
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# model\n") and "second" in text and "first" not in text


def test_a_pinned_revision_serves_that_commit_and_rolls_back_by_tag(hub, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    repo, api = "pin/clean-or-messy", HfApi()
    for number, seed in ((1, 1), (2, 2)):
        push_model(save_tiny_model(tmp_path / f"m{number}", seed=seed), repo)
        assert next_tag(repo) == f"v{number}"
        api.create_tag(repo, tag=f"v{number}", revision=hub.repo(repo).head)
    push_model(save_tiny_model(tmp_path / "m3", seed=3), repo)  # main moves past v2
    tags = hub.repo(repo).tags

    photo = make_distinct_room_image(seed=5)
    for tag, directory in (("v2", "m2"), ("v1", "m1")):  # serving v2, then rolling back to v1
        predictor = Predictor.load(repo, revision=tag, threads=1)
        assert predictor.served.commit == tags[tag]
        assert predictor.served.describe() == f"{repo}@{tag} (commit {tags[tag][:12]})"
        assert predictor.predict(photo) == Predictor.load(tmp_path / directory, threads=1).predict(photo)
        assert read_model_info(predictor.served).model_id == predictor.served.describe()
    assert resolve_model(repo).commit == hub.repo(repo).head  # unpinned follows main, and says which commit

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # a restart without network
    assert resolve_model(repo, "v2").commit == tags["v2"]
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE=1 is set and model repo .* is not in the local cache"):
        resolve_model(repo, "v9")


def test_revision_errors_are_one_clear_line(hub, tiny_model_dir, tmp_path):
    push_model(save_tiny_model(tmp_path / "m"), "pin/errors")
    with pytest.raises(ModelLoadError, match="has no such revision"):
        resolve_model("pin/errors", "v9")
    with pytest.raises(ModelLoadError, match="applies to Hub repos, but .* is a local directory"):
        resolve_model(str(tiny_model_dir), "v1")
    assert split_revision("alice/model@v3") == ("alice/model", "v3")
    assert split_revision(str(tiny_model_dir)) == (str(tiny_model_dir), None)


def test_the_bot_reads_model_revision_and_about_shows_it():
    from bot import texts
    from bot.config import BotConfig
    from cleanmessy.model_info import ModelInfo
    from cleanmessy.model_source import ServedModel

    assert BotConfig.from_env({"TELEGRAM_TOKEN": "t", "MODEL_REVISION": "v3"}).model_revision == "v3"
    assert BotConfig.from_env({"TELEGRAM_TOKEN": "t"}).model_revision is None
    served = ServedModel("alice/com", "/cache/snapshots/0123456789abcdef", "v3", "0123456789abcdef")
    assert texts.about_text(ModelInfo(served.describe())).startswith("Model: alice/com@v3 (commit 0123456789ab)")


def test_gate_rates_are_compared_only_when_a_model_has_the_gate(tmp_path):
    from types import SimpleNamespace

    from training.promote import comparison_rows, gate_rates

    class Gated:  # the predictor interface of a model with a "not a room" gate
        gate = SimpleNamespace(info={"held_out_rooms_flagged": 0.02, "note": "text"})

        def predict(self, image):
            return SimpleNamespace(not_a_room=image.size[0] > 100)

    paths = []
    for index, size in enumerate([(96, 80), (96, 80), (96, 80), (128, 96)]):
        make_distinct_room_image(seed=index).resize(size).save(path := tmp_path / f"{index}.png")
        paths.append(path)
    split = {"image": [{"bytes": None, "path": str(p)} for p in paths]}
    assert gate_rates(SimpleNamespace(gate=None), split) == {}
    rates = gate_rates(Gated(), split)
    assert rates == {"not_a_room_eval_rooms_flagged": 0.25, "not_a_room_held_out_rooms_flagged": 0.02}

    metrics = {"accuracy": 1.0, "correct": 2, "num_examples": 2, "macro_f1": 1.0, "expected_calibration_error": 0.1}
    rows = comparison_rows(metrics | {"not_a_room_eval_rooms_flagged": 0.0}, metrics | rates)
    assert rows[-1] == ("not a room eval rooms flagged", "0.000", "0.250")
    assert len(comparison_rows(metrics, metrics | rates)) == 3  # only rates both models have are compared


def test_help_documents_sources_leaks_and_the_promotion_rule():
    from training.cli import build_parser as training_parser
    from training.promote import build_parser as promote_parser

    training_help = " ".join(training_parser().format_help().split())
    assert "repeatable" in training_help and "feedback dataset" in training_help
    assert "near-duplicate of a validation photo never goes into train" in training_help
    promote_help = " ".join(promote_parser().format_help().split())
    for phrase in ("--current REPO_OR_DIR[@REVISION]", "--eval DATA", "--push-to-hub REPO",
                   "one-sided exact McNemar", "next free ``vN`` tag", "exit status is 1"):
        assert phrase in promote_help, phrase
