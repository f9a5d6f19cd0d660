"""The "not a room" gate: its file format, how training builds it, the ONNX output, and the core's verdicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cleanmessy.errors import ModelLoadError
from cleanmessy.gate import GATE_FILE, THRESHOLD_KEY, NotARoomGate, load_gate
from cleanmessy.predictor import Predictor
from cleanmessy.verdict import Verdict
from tests.gate_helpers import gated_tiny_model, unseen_not_rooms, unseen_rooms
from tests.onnx_helpers import room_set

BACKENDS = ("eager", "onnx-fp32", "onnx-int8")


@pytest.fixture(scope="module")
def gated() -> Path:
    return gated_tiny_model()


@pytest.fixture
def gated_copy(gated: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(gated, tmp_path / "model"))


# ---- the gate file ----------------------------------------------------------------------------


def test_gate_probability_is_a_logistic_head_on_the_normalised_cls() -> None:
    gate = NotARoomGate(weights=[2.0, -1.0], bias=0.5, threshold=0.7)
    classifier_input = np.array([[3.0, 4.0, 99.0], [0.0, -2.0, -99.0]])  # CLS is the first 2 numbers
    expected = 1 / (1 + np.exp(-(np.array([2 * 0.6 - 0.8, 1.0]) + 0.5)))
    np.testing.assert_allclose(gate.probability(classifier_input), expected, rtol=1e-6)
    assert gate.flags(np.array([0.69, 0.7, 0.9])).tolist() == [False, True, True]


def test_gate_saves_its_file_and_the_config_threshold(tiny_model_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    NotARoomGate(weights=[0.5] * 32, bias=-1.0, threshold=0.42, info={"note": "x"}).save(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    assert config[THRESHOLD_KEY] == 0.42
    assert config["id2label"] == {"0": "clean", "1": "messy"}  # the rest of the config is kept
    loaded = load_gate(str(model_dir))
    assert (loaded.threshold, loaded.bias, list(loaded.weights), loaded.info) == (0.42, -1.0, [0.5] * 32, {"note": "x"})
    config[THRESHOLD_KEY] = 0.9  # the config's threshold is the served one
    (model_dir / "config.json").write_text(json.dumps(config))
    assert load_gate(str(model_dir)).threshold == 0.9


def test_model_without_gate_has_none_and_a_broken_gate_is_a_clear_error(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert load_gate(str(tiny_model_dir)) is None
    model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    (model_dir / GATE_FILE).write_text(json.dumps({"format": 1, "bias": 0.0}))
    with pytest.raises(ModelLoadError, match="not_a_room.json is not a valid gate"):
        load_gate(str(model_dir))


# ---- verdicts -----------------------------------------------------------------------------------


def test_verdict_json_contract_and_headline() -> None:
    room = Verdict("messy", 0.87, {"clean": 0.13, "messy": 0.87})
    other = Verdict("clean", 0.94, {"clean": 0.94, "messy": 0.06}, not_a_room=True)
    assert room.to_dict() == {"label": "messy", "confidence": 0.87, "scores": {"clean": 0.13, "messy": 0.87},
                              "unsure": False, "not_a_room": False}
    assert other.to_dict()["not_a_room"] is True and other.to_dict()["label"] == "clean"
    assert other.headline == "That doesn't look like a room"
    assert other.leaning == "if it is a room, it leans clean (94%)"
    assert Verdict(**other.to_dict()) == other  # the Space's feedback state round-trips


def test_model_without_gate_answers_not_a_room_false(tiny_model_dir: Path) -> None:
    predictor = Predictor.load(tiny_model_dir, threads=1)
    assert predictor.gate is None
    verdicts = predictor.predict_batch(unseen_not_rooms(4))
    assert [v.to_dict()["not_a_room"] for v in verdicts] == [False] * 4


# ---- the gate training builds, on generated pictures and room-like images -----------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_gate_flags_unseen_generated_pictures_and_passes_unseen_rooms(gated: Path, backend: str) -> None:
    predictor = Predictor.load(gated, backend=backend, threads=1)
    assert predictor.backend.name == ("eager" if backend == "eager" else backend)
    others = predictor.predict_batch(unseen_not_rooms(20))
    rooms = predictor.predict_batch(unseen_rooms(10))
    assert np.mean([v.not_a_room for v in others]) >= 0.7
    assert np.mean([v.not_a_room for v in rooms]) <= 0.1
    flagged = next(v for v in others if v.not_a_room)
    assert flagged.headline == "That doesn't look like a room" and flagged.label in ("clean", "messy")


def test_threshold_keeps_held_out_rooms_under_two_percent(gated: Path) -> None:
    from cleanmessy.model_files import load_model_and_processor
    from training.gate import build_gate

    model, processor = load_model_and_processor(str(gated))
    gate, report = build_gate(model, processor, room_set(12, seed=300)[0], generated_count=60)
    assert report.held_out_rooms_flagged <= 0.02
    assert report.rooms == 24 and report.generated == 60 and report.real_not_rooms == 0
    assert set(report.held_out_not_rooms_flagged) == {f"generated:{kind}" for kind in (
        "text", "screenshot", "chart", "shapes", "noise", "gradient", "pattern", "fundus", "microscopy", "landscape")}
    assert gate.info["held_out_rooms_flagged"] == round(report.held_out_rooms_flagged, 4)


def test_real_non_room_photos_are_grouped_by_source(gated: Path) -> None:
    from cleanmessy.model_files import load_model_and_processor
    from training.gate import build_gate

    model, processor = load_model_and_processor(str(gated))
    photos = [(f"owner{i % 2}__repo__pic{i}.png", image) for i, image in enumerate(unseen_not_rooms(6))]
    _, report = build_gate(model, processor, room_set(6, seed=300)[0], photos, generated_count=20)
    assert report.real_not_rooms == 6 and report.not_room_views == 6 * 4
    assert {"real:owner0", "real:owner1"} <= set(report.held_out_not_rooms_flagged)
    assert report.real_not_rooms_flagged is not None
    assert "real non-room photos" in report.card_note()


def test_generated_pictures_are_seeded_and_varied() -> None:
    from training.negatives import GENERATORS, generated

    first, again = generated(20, seed=3), generated(20, seed=3)
    assert [np.asarray(a).tobytes() == np.asarray(b).tobytes() for (_, a), (_, b) in zip(first, again)] == [True] * 20
    assert {kind for kind, _ in first} == set(GENERATORS)
    assert all(image.mode == "RGB" and min(image.size) >= 100 for _, image in first)


def test_room_views_include_wide_and_tall_shapes() -> None:
    """Every second view of a room is cut 1:2 to 2:1, so a squeezed wide photo still counts as a room."""
    from PIL import Image

    from training.negatives import room_views

    square = Image.new("RGB", (300, 300), (200, 180, 150))
    views = room_views([square] * 40, 2, seed=1)
    aspects = np.array([view.width / view.height for view in views])
    shaped = aspects[1::2]
    assert len(views) == 80
    assert ((shaped >= 0.5 - 0.02) & (shaped <= 2 + 0.02)).all()
    assert (shaped > 1.4).any() and (shaped < 1 / 1.4).any()
    assert (np.abs(np.log(aspects[0::2])) < np.log(1.3)).all()  # the first view keeps roughly the photo's shape


# ---- ONNX ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["model.onnx", "model_quantized.onnx"])
def test_onnx_graph_has_logits_and_not_a_room_with_a_dynamic_batch(gated: Path, name: str) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(gated / "onnx" / name), providers=["CPUExecutionProvider"])
    outputs = {output.name: output for output in session.get_outputs()}
    assert list(outputs) == ["logits", "not_a_room"]
    assert outputs["not_a_room"].type == "tensor(float)" and len(outputs["not_a_room"].shape) == 1
    pixels = np.zeros((3, 3, 32, 32), np.float32)
    logits, not_a_room = session.run(None, {"pixel_values": pixels})
    assert logits.shape == (3, 2) and not_a_room.shape == (3,) and not_a_room.dtype == np.float32


def test_onnx_gate_matches_the_eager_gate(gated: Path) -> None:
    from cleanmessy.backends import EagerBackend, OnnxBackend
    from cleanmessy.model_files import load_model

    predictor = Predictor.load(gated, backend="eager", threads=1)
    pixels = predictor.preprocess(unseen_not_rooms(6) + unseen_rooms(4))
    eager = EagerBackend(load_model(str(gated)), load_gate(str(gated))).outputs(pixels).not_a_room
    fp32 = OnnxBackend(gated / "onnx" / "model.onnx", threads=1).outputs(pixels).not_a_room
    int8 = OnnxBackend(gated / "onnx" / "model_quantized.onnx", threads=1).outputs(pixels).not_a_room
    np.testing.assert_allclose(fp32, eager, atol=1e-4)
    assert np.abs(int8 - eager).max() < 0.1


def test_gate_nodes_stay_fp32_in_the_int8_graph(gated: Path) -> None:
    import onnx

    from training.export import gate_only_nodes

    kept = gate_only_nodes(gated / "onnx" / "model.onnx")
    assert any("MatMul" in name for name in kept) and any("Sigmoid" in name for name in kept)
    int8 = onnx.load(str(gated / "onnx" / "model_quantized.onnx"))
    assert {node.name for node in int8.graph.node} >= set(kept)  # not replaced by quantized ops


def test_export_report_includes_the_gate_parity(gated_copy: Path) -> None:
    from training.export import export_model

    images, labels = room_set(6)
    report = export_model(gated_copy, images, labels)
    assert report.parity.gate_fp32_max_diff < 1e-3
    assert report.parity.gate_int8_agreement >= 0.95
    assert "not_a_room" in report.summary()


def test_gated_model_dir_still_loads_with_stock_pipeline(gated: Path) -> None:
    from transformers import AutoModelForImageClassification, pipeline

    model = AutoModelForImageClassification.from_pretrained(gated)
    assert model.config.not_a_room_threshold == json.loads((gated / "config.json").read_text())[THRESHOLD_KEY]
    answer = pipeline("image-classification", model=str(gated))(unseen_not_rooms(1)[0])
    assert {item["label"] for item in answer} == {"clean", "messy"}  # stock pipeline: the leaning only


@pytest.mark.parametrize("backend", BACKENDS)
def test_explanation_verdict_carries_the_gate(gated: Path, backend: str) -> None:
    from cleanmessy.explain import explain

    predictor = Predictor.load(gated, backend=backend, threads=1)
    picture = next(image for image, verdict in zip(unseen_not_rooms(8), predictor.predict_batch(unseen_not_rooms(8)))
                   if verdict.not_a_room)
    assert explain(predictor, picture).verdict.not_a_room
