"""The Space's parts on their own: the micro-batcher, the example sources, the settings, the verdict text."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import numpy as np
import pytest

from cleanmessy.verdict import Verdict
from space.batcher import Batcher
from space.config import parse_args
from space.examples import dataset_in_model_card, find_examples, from_dataset, from_folder
from space.service import verdict_markdown
from tests.helpers import make_room_image, write_image_folder


class SlowPredictor:
    """Scores an image by its mean red value; each pass takes 50 ms; a pure-black image breaks the pass."""

    def __init__(self) -> None:
        self.passes: list[int] = []

    def probabilities(self, images):
        time.sleep(0.05)
        self.passes.append(len(images))
        if any(np.asarray(image).max() == 0 for image in images):
            raise RuntimeError("model failure")
        red = np.array([np.asarray(image)[..., 0].mean() / 255 for image in images])
        return np.stack([1 - red, red], axis=1)

    def verdict_from_probabilities(self, row):
        label = "messy" if row[1] > row[0] else "clean"
        return Verdict(label, float(row.max()), {"clean": float(row[0]), "messy": float(row[1])})

    def verdicts(self, images):
        return [self.verdict_from_probabilities(row) for row in self.probabilities(images)]


def solid(red: int):
    from PIL import Image

    return Image.new("RGB", (40, 40), (red, 0, 0))


def test_batcher_shares_passes_and_keeps_each_callers_answer():
    predictor = SlowPredictor()
    batcher = Batcher(predictor, max_batch=4)
    answers: dict[int, float] = {}

    def call(red: int) -> None:
        answers[red] = batcher.predict([solid(red)])[0].scores["messy"]

    threads = [threading.Thread(target=call, args=(red,)) for red in range(10, 250, 24)]  # 10 callers
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert answers == {red: pytest.approx(red / 255) for red in range(10, 250, 24)}
    assert sum(predictor.passes) == 10 and max(predictor.passes) <= 4
    assert len(predictor.passes) < 10, predictor.passes  # some passes were shared
    assert batcher.batch_sizes == predictor.passes


def test_batcher_keeps_order_within_one_call():
    batcher = Batcher(SlowPredictor(), max_batch=2)
    verdicts = batcher.predict([solid(200), solid(20), solid(180)])
    batcher.close()
    assert [v.label for v in verdicts] == ["messy", "clean", "messy"]


def test_a_failing_pass_fails_its_callers_and_the_batcher_carries_on():
    batcher = Batcher(SlowPredictor(), max_batch=8)
    with pytest.raises(RuntimeError, match="model failure"):
        batcher.predict([solid(0)])
    assert batcher.predict([solid(200)])[0].label == "messy"
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.predict([solid(200)])


def test_examples_from_folder_interleave_labels_and_respect_the_limit(tmp_path):
    root = write_image_folder(tmp_path / "rooms", per_class=4, splits=("validation",)) / "validation"
    examples = from_folder(root, per_label=3)
    assert [p.split("/")[-2] for p in examples] == ["clean", "messy"] * 3
    assert examples[:2] == [str(root / "clean" / "clean-0.png"), str(root / "messy" / "messy-0.png")]


def test_examples_missing_source_means_no_examples_not_a_crash(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert find_examples("unused", folder=str(tmp_path / "nope"), dataset=None, per_label=3) == []
    assert "does not exist" in caplog.text


def test_examples_dataset_named_in_a_local_model_card(tmp_path):
    (tmp_path / "README.md").write_text("---\ndatasets:\n- alice/rooms\nlicense: mit\n---\n# model\n")
    assert dataset_in_model_card(str(tmp_path)) == "alice/rooms"
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# model\n")
    assert dataset_in_model_card(str(tmp_path)) is None


def test_examples_from_a_hub_dataset(hub, tmp_path):
    from datasets import load_dataset

    repo = f"alice/rooms-{uuid.uuid4().hex[:6]}"
    folder = write_image_folder(tmp_path / "rooms", per_class=3)
    load_dataset("imagefolder", data_dir=str(folder)).push_to_hub(repo)
    examples = from_dataset(repo, per_label=2, cache=tmp_path / "cache")
    assert [p.split("/")[-1].split("-")[0] for p in examples] == ["clean", "messy", "clean", "messy"]
    from PIL import Image

    assert all(Image.open(p).size == make_room_image().size for p in examples)
    readme = tmp_path / "model" / "README.md"
    readme.parent.mkdir()
    readme.write_text(f"---\ndatasets:\n- {repo}\n---\n")
    assert len(find_examples(str(readme.parent), folder=None, dataset=None, per_label=1)) == 2


def test_examples_are_streamed_not_the_whole_split(hub, tmp_path):
    """Three parquet shards: the examples come from the first rows, so only the first shard is read."""
    from datasets import load_dataset

    repo = f"alice/big-rooms-{uuid.uuid4().hex[:6]}"
    folder = write_image_folder(tmp_path / "rooms", per_class=6, splits=("validation",))
    dataset = load_dataset("imagefolder", data_dir=str(folder), split="validation").shuffle(seed=1)
    dataset.push_to_hub(repo, split="validation", num_shards=3)
    shards = sorted(path for path in hub.files(repo, "dataset") if path.endswith(".parquet"))
    assert len(shards) == 3
    first_rows = dataset.select(range(4))["label"]
    assert set(first_rows) == {0, 1}, "the seed must put both labels in the first shard"
    hub.requests.clear()
    examples = from_dataset(repo, per_label=1, cache=tmp_path / "cache")
    assert sorted(p.split("/")[-1].split("-")[0] for p in examples) == ["clean", "messy"]
    read = {path for _, path in hub.requests if path.endswith(".parquet")}
    assert len(read) == 1 and read.pop().endswith(shards[0]), hub.requests


def test_settings_flags_override_environment(monkeypatch):
    monkeypatch.setenv("QUEUE_MAX_SIZE", "7")
    monkeypatch.setenv("MAX_BATCH", "3")
    monkeypatch.setenv("EXAMPLES_DIR", "/data/rooms/validation")
    config = parse_args(["--max-batch", "5", "--port", "9000"])
    assert (config.queue_size, config.max_batch, config.port, config.host) == (7, 5, 9000, "127.0.0.1")
    assert config.examples_dir == "/data/rooms/validation"
    monkeypatch.setenv("MAX_BATCH", "lots")
    with pytest.raises(SystemExit, match="MAX_BATCH must be a whole number"):
        parse_args([])


def test_verdict_text_spells_out_the_hard_to_say_band():
    sure = Verdict("messy", 0.87, {"clean": 0.13, "messy": 0.87}, unsure=False)
    unsure = Verdict("messy", 0.58, {"clean": 0.42, "messy": 0.58}, unsure=True)
    assert verdict_markdown(sure, 0.65) == "## 🧹 Messy, 87% sure"
    assert verdict_markdown(unsure, 0.65).startswith("## 🤷 Hard to say (leaning messy, 58%)")
    assert "less than 65% sure" in verdict_markdown(unsure, 0.65)
