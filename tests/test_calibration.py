"""Calibrated scores: a temperature folded into the classifier reaches stock pipeline() and the core alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cleanmessy.predictor import Predictor
from tests.helpers import make_room_image, save_tiny_model, write_image_folder
from training.calibration import CONFIG_KEY, fit_temperature, fold_temperature, nll


@pytest.fixture(scope="module")
def folded(tmp_path_factory) -> tuple[Path, np.ndarray, float]:
    """A tiny model saved with temperature 2.5 folded in, and its raw (unfolded) logits for three rooms."""
    from transformers import AutoModelForImageClassification

    directory = save_tiny_model(tmp_path_factory.mktemp("folded"), seed=3)
    model = AutoModelForImageClassification.from_pretrained(directory)
    with torch.no_grad():  # a random tiny head is nearly flat: make its logits large enough to matter
        model.classifier.weight.mul_(40.0)
        model.classifier.bias.copy_(torch.tensor([0.7, -0.7]))
    predictor = Predictor(model, Predictor.load(directory).preprocess.image_processor, source="test")
    raw = predictor.model(pixel_values=torch.from_numpy(predictor.preprocess(rooms()))).logits.detach().numpy()
    fold_temperature(model, 2.5)
    model.save_pretrained(directory)
    return directory, raw, 2.5


def rooms():
    return [make_room_image(messy=i % 2 == 1, seed=i) for i in range(3)]


def test_pipeline_probabilities_equal_the_cores_and_are_tempered(folded):
    from transformers import pipeline

    directory, raw, temperature = folded
    expected = torch.softmax(torch.from_numpy(raw) / temperature, dim=-1).numpy()
    assert np.abs(expected - torch.softmax(torch.from_numpy(raw), dim=-1).numpy()).max() > 0.05  # T matters here
    core = Predictor.load(directory, backend="eager").probabilities(rooms())
    classify = pipeline("image-classification", model=str(directory))
    stock = np.array([[{r["label"]: r["score"] for r in result}[name] for name in ("clean", "messy")]
                      for result in classify(rooms())])
    np.testing.assert_allclose(core, expected, atol=1e-5)
    np.testing.assert_allclose(stock, core, atol=1e-5)
    assert json.loads((directory / "config.json").read_text())[CONFIG_KEY] == 2.5


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 2))
    probabilities = torch.softmax(torch.from_numpy(logits / 2.0), dim=-1).numpy()
    labels = (rng.random(4000) < probabilities[:, 1]).astype(int)  # labels drawn from softmax(logits / 2)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.0, rel=0.1)
    assert nll(logits, labels, temperature) < nll(logits, labels, 1.0)


def test_kfold_calibration_from_the_command_line(tmp_path, tiny_model_dir):
    from training.cli import main

    data = write_image_folder(tmp_path / "rooms", per_class=6)
    output = tmp_path / "model"
    assert main(["--data", str(data), "--base", str(tiny_model_dir), "--output", str(output), "--epochs", "1",
                 "--batch-size", "4", "--no-export-onnx", "--calibration-folds", "2"]) == 0
    temperature = json.loads((output / "config.json").read_text())[CONFIG_KEY]
    card = (output / "README.md").read_text()
    assert f"{temperature:.3f}" in card and "2-fold cross-validation on the training split" in card
    assert re.search(r"cross-validated, out-of-fold \(1 seed × 2 folds\) \| 1[12] predictions", card)  # 11: a duplicate is dropped
