"""Inference backends: eager and ONNX agree, and the predictor picks the backend as documented."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from cleanmessy.backends import EagerBackend, OnnxBackend, softmax
from cleanmessy.errors import ModelLoadError
from cleanmessy.predictor import Predictor
from tests.onnx_helpers import room_set


@pytest.fixture
def model_dir(exported_model_dir: Path) -> Path:
    return exported_model_dir


def _copy_without(source: Path, target: Path, *names: str) -> Path:
    shutil.copytree(source, target)
    for name in names:
        (target / "onnx" / name).unlink()
    return target


def test_onnx_and_eager_give_the_same_labels(model_dir: Path) -> None:
    images, _ = room_set(10, seed=900)
    eager = Predictor.load(model_dir, backend="eager", threads=1)
    fp32 = Predictor.load(model_dir, backend="onnx-fp32", threads=1)
    int8 = Predictor.load(model_dir, backend="onnx-int8", threads=1)

    p_eager, p_fp32, p_int8 = (p.probabilities(images) for p in (eager, fp32, int8))
    np.testing.assert_allclose(p_fp32, p_eager, atol=1e-4)
    assert (p_int8.argmax(1) == p_eager.argmax(1)).all()
    assert np.abs(p_int8 - p_eager).max() < 0.05
    np.testing.assert_allclose(p_int8.sum(1), 1.0, atol=1e-5)
    assert [v.label for v in int8.predict_batch(images)] == [v.label for v in eager.predict_batch(images)]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", "onnx-int8"), (None, "onnx-int8"), ("eager", "eager"), ("onnx", "onnx-int8"),
     ("onnx-fp32", "onnx-fp32"), ("onnx-int8", "onnx-int8"), ("ONNX-INT8", "onnx-int8")],
)
def test_backend_choice_with_both_onnx_files(model_dir: Path, choice: str | None, expected: str) -> None:
    predictor = Predictor.load(model_dir, backend=choice, threads=1)
    assert predictor.backend.name == expected
    assert isinstance(predictor.model, torch.nn.Module)  # explanations still have the PyTorch model


def test_auto_is_eager_without_int8_and_onnx_falls_back_to_fp32(model_dir: Path, tmp_path: Path) -> None:
    only_fp32 = _copy_without(model_dir, tmp_path / "m", "model_quantized.onnx")
    assert Predictor.load(only_fp32, threads=1).backend.name == "eager"
    assert Predictor.load(only_fp32, backend="onnx", threads=1).backend.name == "onnx-fp32"
    with pytest.raises(ModelLoadError, match="onnx/model_quantized.onnx.*python -m training.export"):
        Predictor.load(only_fp32, backend="onnx-int8", threads=1)


def test_onnx_without_files_is_a_clear_error(tiny_model_dir: Path) -> None:
    assert Predictor.load(tiny_model_dir, threads=1).backend.name == "eager"
    with pytest.raises(ModelLoadError, match="has no onnx/model_quantized.onnx or onnx/model.onnx"):
        Predictor.load(tiny_model_dir, backend="onnx", threads=1)


def test_unknown_backend_is_rejected(model_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown backend 'tensorrt'.*auto, eager, onnx"):
        Predictor.load(model_dir, backend="tensorrt", threads=1)


def test_environment_picks_backend_and_threads(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDICTOR_BACKEND", "eager")
    assert Predictor.load(model_dir, threads=1).backend.name == "eager"
    assert Predictor.load(model_dir, backend="onnx-fp32", threads=1).backend.name == "onnx-fp32"  # argument wins

    monkeypatch.setenv("PREDICTOR_BACKEND", "onnx-fp32")
    monkeypatch.setenv("ORT_THREADS", "1")
    predictor = Predictor.load(model_dir)
    assert predictor.backend.name == "onnx-fp32"
    assert predictor.backend.session.get_session_options().intra_op_num_threads == 1


def test_hub_model_with_onnx_files_runs_int8(model_dir: Path, hub) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token="hf_onnxtestuser")
    repo_id = f"onnxtester/clean-or-messy-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(model_dir))

    predictor = Predictor.load(repo_id, threads=1)
    assert predictor.backend.name == "onnx-int8"
    assert predictor.backend.path.is_relative_to(os.environ["HF_HOME"])  # fetched into the Hub cache
    images, _ = room_set(4, seed=40)
    local = Predictor.load(model_dir, backend="onnx-int8", threads=1)
    np.testing.assert_allclose(predictor.probabilities(images), local.probabilities(images), atol=1e-6)


def test_hub_model_without_onnx_files_stays_eager(tiny_model_dir: Path, hub) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token="hf_onnxtestuser")
    repo_id = f"onnxtester/eager-only-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(tiny_model_dir))
    assert Predictor.load(repo_id, threads=1).backend.name == "eager"
    with pytest.raises(ModelLoadError, match="no onnx/model.onnx"):
        Predictor.load(repo_id, backend="onnx-fp32", threads=1)


def test_onnx_backend_rejects_pixels_of_the_wrong_size(model_dir: Path) -> None:
    backend = OnnxBackend(model_dir / "onnx" / "model.onnx", threads=1)
    assert backend.input_size == (32, 32)
    with pytest.raises(ValueError, match="expects 32×32 pixels, got 64×64"):
        backend.probabilities(np.zeros((1, 3, 64, 64), np.float32))


def test_softmax_matches_torch() -> None:
    logits = np.array([[1000.0, 999.0], [-3.0, 2.0], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(softmax(logits), torch.softmax(torch.from_numpy(logits), -1).numpy(), atol=1e-6)
    assert EagerBackend.name == "eager"
