"""Serving an ONNX model reads its config and image processor as JSON: no torch, same pixels, same errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cleanmessy.errors import ModelLoadError
from cleanmessy.model_files import ProcessorConfig, read_image_processor, read_labels
from cleanmessy.preprocess import Preprocessor
from tests.helpers import ROOT_DIR, make_room_image, tiny_image_processor

ONNX_ONLY_CHILD = """
import sys
from cleanmessy import Predictor
from tests.helpers import make_room_image

predictor = Predictor.load(sys.argv[1], threads=1)
verdicts = predictor.predict_batch([make_room_image(messy=True, size=(120, 90)), make_room_image(size=(90, 120))])
heavy = sorted(name for name in ("torch", "transformers") if name in sys.modules)
print(predictor.backend.name, [v.label for v in verdicts], heavy)
"""


def _vit_processor():
    from transformers import ViTImageProcessorPil

    return ViTImageProcessorPil(size={"height": 48, "width": 40})


def _saved(processor, directory: Path) -> Path:
    processor.save_pretrained(directory)
    return directory


def test_onnx_serving_never_imports_torch_or_transformers(exported_model_dir: Path) -> None:
    model_dir = exported_model_dir
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR), "HF_HUB_OFFLINE": "1", "PREDICTOR_BACKEND": "auto"}
    result = subprocess.run([sys.executable, "-c", ONNX_ONLY_CHILD, str(model_dir)], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "onnx-int8 ['messy', 'clean'] []", result.stderr


def test_the_pytorch_model_loads_on_first_use_and_agrees(exported_model_dir: Path) -> None:
    import torch

    from cleanmessy.predictor import Predictor

    predictor = Predictor.load(exported_model_dir, backend="onnx-fp32", threads=1)
    assert predictor._model is None
    images = [make_room_image(messy=True, seed=5), make_room_image(seed=6)]
    onnx = predictor.probabilities(images)
    assert isinstance(predictor.model, torch.nn.Module) and predictor.model is predictor.model
    with torch.inference_mode():
        eager = torch.softmax(predictor.model(pixel_values=torch.from_numpy(predictor.preprocess(images))).logits, -1)
    np.testing.assert_allclose(onnx, eager.numpy(), atol=1e-4)


@pytest.mark.parametrize("make_processor", [tiny_image_processor, _vit_processor])
@pytest.mark.parametrize("size", [(120, 90), (57, 200), (300, 64)])
def test_json_processor_config_gives_the_processors_pixels(make_processor, size, tmp_path: Path) -> None:
    processor = make_processor()
    settings = read_image_processor(str(_saved(processor, tmp_path)))
    assert isinstance(settings, ProcessorConfig)
    images = [make_room_image(messy=True, size=size, seed=1), make_room_image(size=size, seed=2)]
    expected = processor(images=images, return_tensors="np")["pixel_values"]
    np.testing.assert_allclose(Preprocessor(settings, reducing_gap=None)(images), expected, atol=1e-5)


def test_an_unfamiliar_or_incomplete_processor_is_left_to_transformers(tmp_path: Path) -> None:
    from transformers import ConvNextImageProcessorPil

    convnext = read_image_processor(str(_saved(ConvNextImageProcessorPil(), tmp_path / "convnext")))
    assert type(convnext).__name__ == "ConvNextImageProcessorPil"

    incomplete = _saved(tiny_image_processor(), tmp_path / "incomplete")
    values = json.loads((incomplete / "preprocessor_config.json").read_text())
    del values["do_center_crop"]  # the class default (crop) would apply: only transformers knows it
    (incomplete / "preprocessor_config.json").write_text(json.dumps(values))
    loaded = read_image_processor(str(incomplete))
    assert not isinstance(loaded, ProcessorConfig) and loaded.do_center_crop


def test_labels_are_read_from_config_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert read_labels(str(tiny_model_dir)) == ["clean", "messy"]
    dogs = tmp_path / "dogs"
    dogs.mkdir()
    (dogs / "config.json").write_text(json.dumps({"id2label": {"0": "cat", "1": "dog"}}))
    with pytest.raises(ModelLoadError, match=r"is not a clean/messy model: its labels are \{0: 'cat', 1: 'dog'\}"):
        read_labels(str(dogs))
    with pytest.raises(ModelLoadError, match="has no config.json: it is not a saved model directory"):
        read_labels(str(tmp_path))
    (dogs / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="config.json of .* is not valid JSON"):
        read_labels(str(dogs))


def test_one_module_knows_the_model_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from cleanmessy.model_files import NotAModelError, check_model_dir, geometry, is_hub_id

    assert is_hub_id("user/clean-or-messy")
    assert not any(is_hub_id(text) for text in ("models", "./user/model", "/abs/dir", "a/b/c", str(tiny_model_dir)))
    assert check_model_dir(tiny_model_dir) == tiny_model_dir
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(NotAModelError, match=r"has no \*\.safetensors weights: it is not a saved model directory: "
                                             r"train first"):
        check_model_dir(tmp_path, advice="train first")
    shape = geometry(read_image_processor(str(tiny_model_dir)))
    assert shape.input_size == shape.crop and shape.resize[0] == "shortest_edge"
    left, top, right, bottom = shape.view_box((200, 100))  # landscape: the centre crop keeps the middle
    assert left == pytest.approx(200 - right) and top == pytest.approx(100 - bottom) and left > top
