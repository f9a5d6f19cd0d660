"""ONNX export: files and graph contract, parity check, failure modes, CLI, and stock pipeline() loading."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.helpers import write_image_folder
from tests.onnx_helpers import room_set
from training import export
from training.export import ExportError, Parity, ParityError, check_parity, export_model


@pytest.fixture
def model_copy(tmp_path: Path, exported_model_dir: Path) -> Path:
    """A private copy of the exported tiny model, without its onnx/ folder."""
    target = tmp_path / "model"
    shutil.copytree(exported_model_dir, target, ignore=shutil.ignore_patterns("onnx"))
    return target


def test_export_writes_transformers_js_layout_and_passes_parity(model_copy: Path) -> None:
    images, labels = room_set(10)
    report = export_model(model_copy, images, labels)

    assert (model_copy / "onnx" / "model.onnx").is_file()
    assert (model_copy / "onnx" / "model_quantized.onnx").is_file()
    assert sorted(p.name for p in (model_copy / "onnx").iterdir()) == ["model.onnx", "model_quantized.onnx"]
    parity = report.parity
    assert parity.labelled and parity.images == 20
    assert parity.int8_agreement >= 0.95
    assert parity.int8_accuracy >= parity.eager_accuracy
    assert parity.fp32_max_prob_diff < 1e-4
    assert 0 <= parity.int8_max_prob_diff < 0.1
    assert report.input_size == (32, 32)
    assert report.int8_megabytes <= report.fp32_megabytes
    data = json.loads(json.dumps(report.to_dict()))
    assert data["parity"]["int8_agreement"] == parity.int8_agreement
    assert "validation" in report.summary() and "%" in report.card_note()


@pytest.mark.parametrize("name", ["model.onnx", "model_quantized.onnx"])
def test_graph_contract_pixel_values_to_logits_with_dynamic_batch(name: str, exported_model_dir: Path) -> None:
    path = exported_model_dir / "onnx" / name
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["pixel_values"]
    assert [o.name for o in graph.output] == ["logits"]
    batch_dim = graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        (logits,) = session.run(["logits"], {"pixel_values": np.zeros((batch, 3, 32, 32), np.float32)})
        assert logits.shape == (batch, 2)


def test_position_embeddings_are_baked_in_not_resized_per_call(exported_model_dir: Path) -> None:
    ops = {node.op_type for node in onnx.load(str(exported_model_dir / "onnx" / "model.onnx")).graph.node}
    assert "Resize" not in ops


def test_int8_graph_is_quantized(exported_model_dir: Path) -> None:
    ops = {node.op_type for node in onnx.load(str(exported_model_dir / "onnx" / "model_quantized.onnx")).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul", "DequantizeLinear"}


def test_parity_failure_is_loud_and_leaves_no_onnx_files(model_copy: Path) -> None:
    images, labels = room_set(10)
    (model_copy / "onnx").mkdir()
    (model_copy / "onnx" / "model_quantized.onnx").write_bytes(b"stale export of an older model")

    with pytest.raises(ParityError, match="agree|PyTorch label"):
        export_model(model_copy, images, labels, min_agreement=1.01)

    assert not (model_copy / "onnx").exists()


def test_broken_export_is_an_export_error(model_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(export.torch.onnx, "export", broken)
    with pytest.raises(ExportError, match="exporter exploded"):
        export_model(model_copy)
    assert not (model_copy / "onnx").exists()


def _parity(**changes) -> Parity:
    values = dict(images=20, labelled=True, fp32_max_prob_diff=1e-6, int8_max_prob_diff=0.02,
                  int8_agreement=1.0, eager_accuracy=0.95, int8_accuracy=0.95, fp32_accuracy=0.95)
    return Parity(**{**values, **changes})


def test_check_parity_rules() -> None:
    check_parity(_parity())
    check_parity(_parity(int8_agreement=0.95, int8_accuracy=1.0))
    with pytest.raises(ParityError, match="below PyTorch"):
        check_parity(_parity(int8_accuracy=0.9))
    with pytest.raises(ParityError, match="only 90.0%"):
        check_parity(_parity(int8_agreement=0.9))
    with pytest.raises(ParityError, match="fp32 export differs"):
        check_parity(_parity(fp32_max_prob_diff=0.2))
    check_parity(_parity(labelled=False, int8_agreement=0.5, eager_accuracy=None, int8_accuracy=None))


def test_export_without_images_checks_fp32_on_generated_inputs(model_copy: Path) -> None:
    report = export_model(model_copy)
    assert not report.parity.labelled
    assert report.parity.eager_accuracy is None
    assert report.notes and "not checked" in report.notes[0]
    assert (model_copy / "onnx" / "model_quantized.onnx").is_file()


def test_static_quantization_needs_and_uses_calibration_images(model_copy: Path) -> None:
    images, labels = room_set(10)
    report = export_model(model_copy, images, labels, quantization="static", calibration_images=room_set(8, 300)[0])
    assert report.quantization.startswith("static")
    assert report.parity.int8_agreement >= 0.95
    with pytest.raises(ExportError, match="unknown quantization"):
        export_model(model_copy, images, labels, quantization="int4")


def test_cli_exports_with_validation_split(model_copy: Path, tmp_path: Path, capsys) -> None:
    data = write_image_folder(tmp_path / "rooms", per_class=4)
    assert export.main(["--model", str(model_copy), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "8 validation images" in out
    assert (model_copy / "onnx" / "model_quantized.onnx").is_file()


def test_cli_reports_a_missing_model_in_one_line(tmp_path: Path, capsys) -> None:
    assert export.main(["--model", str(tmp_path / "nothing-here")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_model_dir_with_onnx_still_loads_with_stock_pipeline(exported_model_dir: Path) -> None:
    from transformers import pipeline

    from cleanmessy.predictor import Predictor

    model_dir = str(exported_model_dir)
    images, _ = room_set(4, seed=700)
    classify = pipeline("image-classification", model=model_dir)
    predictions = [result[0]["label"] for result in classify(images)]
    assert predictions == [v.label for v in Predictor.load(model_dir, backend="eager").predict_batch(images)]
