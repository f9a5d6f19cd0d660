"""Publishing pieces on their own: the dataset card, the model push in place, the Space bundle."""

from __future__ import annotations

import json
import shutil
import uuid
from importlib import metadata

import pytest
import yaml
from datasets import load_dataset

from cleanmessy.hub import HubUnreachableError
from scraper.__main__ import main as scraper_main
from scraper.dataset_card import read_provenance, render_card, size_category
from space.deploy import normalise, root_pins, stage_space
from tests.helpers import ROOT_DIR, write_image_folder
from tests.hub_helpers import make_scratch_project, missing_local_modules, top_level_imports
from training.publish import push_model

MANIFEST = [
    {"query": "tidy bedroom", "label": "clean", "source_url": "https://img.example.com/1.jpg",
     "page_url": "https://www.example.com/a", "time": "2026-11-20T10:00:00Z"},
    {"query": "messy room", "label": "messy", "source_url": "https://cdn.pics.org/2.jpg",
     "page_url": "https://pics.org/b", "time": "2026-11-22T09:00:00Z"},
    {"query": "messy room", "label": "messy", "source_url": "https://img.example.com/3.jpg",
     "page_url": "https://example.com/c", "time": "2026-11-21T09:00:00Z"},
]


def front_matter(text: str) -> dict:
    _, header, _ = text.split("---", 2)
    return yaml.safe_load(header)


def test_dataset_card_from_counts_and_manifest(tmp_path):
    (tmp_path / "manifest.jsonl").write_text("\n".join(map(json.dumps, MANIFEST)) + "\n{torn")
    provenance = read_provenance(tmp_path / "manifest.jsonl")
    counts = {"train": {"clean": 40, "messy": 38}, "validation": {"clean": 10, "messy": 10}}
    card = render_card("alice/rooms", counts, provenance, license="cc-by-4.0")
    meta = front_matter(card)
    assert meta["task_categories"] == ["image-classification"]
    assert meta["size_categories"] == ["n<1K"] and meta["license"] == "cc-by-4.0"
    assert meta["dataset_info"]["splits"] == [{"name": "train", "num_examples": 78},
                                              {"name": "validation", "num_examples": 20}]
    assert "| train | 40 | 38 | 78 |" in card
    assert "| messy room | messy | 2 |" in card and "| example.com | 2 |" in card and "| pics.org | 1 |" in card
    assert "between 2026-11-20T10:00:00Z and 2026-11-22T09:00:00Z" in card
    assert 'load_dataset("alice/rooms")' in card


def test_dataset_card_keeps_what_push_to_hub_wrote():
    hub_meta = {"configs": [{"config_name": "default"}], "dataset_info": {"splits": [{"name": "train"}]},
                "license": "mit"}
    meta = front_matter(render_card("a/b", {"train": {"clean": 1, "messy": 1}}, None, hub_metadata=hub_meta))
    assert meta["configs"] == hub_meta["configs"] and meta["dataset_info"] == hub_meta["dataset_info"]
    assert meta["license"] == "other"  # our flag wins over what was there
    assert [size_category(n) for n in (999, 1000, 12_000)] == ["n<1K", "1K<n<10K", "10K<n<100K"]


def test_model_push_uploads_everything_and_updates_in_place(hub, tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "README.md").write_text("---\npipeline_tag: image-classification\n---\n# card\n")
    (model / "eval").mkdir()
    (model / "eval" / "metrics.json").write_text(json.dumps({"accuracy": 0.75, "num_examples": 8}))
    (model / "eval" / "old_plot.png").write_bytes(b"\x89PNG old")
    (model / "onnx").mkdir()
    (model / "onnx" / "model.onnx").write_bytes(b"\x08\x01onnx")
    (model / "checkpoints").mkdir()
    (model / "checkpoints" / "optimizer.pt").write_bytes(b"\x00")
    repo_id = f"alice/model-{uuid.uuid4().hex[:6]}"

    assert push_model(model, repo_id) == f"{hub.url}/{repo_id}"
    files = hub.files(repo_id)
    assert {"config.json", "preprocessor_config.json", "model.safetensors", "README.md", "eval/metrics.json",
            "eval/old_plot.png", "onnx/model.onnx"} <= set(files)
    assert not any(path.startswith("checkpoints/") for path in files)
    first = hub.repo(repo_id).head

    (model / "eval" / "old_plot.png").unlink()
    shutil.rmtree(model / "onnx")
    (model / "README.md").write_text("---\npipeline_tag: image-classification\n---\n# card v2\n")
    push_model(model, repo_id)
    files = hub.files(repo_id)
    assert files["README.md"].endswith(b"# card v2\n")
    assert "eval/old_plot.png" not in files and "onnx/model.onnx" not in files
    assert files["model.safetensors"] == (model / "model.safetensors").read_bytes()
    assert len(hub.repo(repo_id).commits) == 3 and hub.repo(repo_id).head != first  # create + 2 pushes


def test_private_pushes_and_a_flat_folder(hub, tiny_model_dir, tmp_path):
    model_repo, dataset_repo = f"alice/private-{uuid.uuid4().hex[:6]}", f"alice/private-{uuid.uuid4().hex[:6]}"
    push_model(tiny_model_dir, model_repo, private=True)
    folder = write_image_folder(tmp_path / "rooms", per_class=5, splits=("",))  # DIR/<label>/ only
    assert scraper_main(["push", "--data", str(folder), "--repo", dataset_repo, "--private"]) == 0
    assert hub.repo(model_repo).private and hub.repo(dataset_repo, "dataset").private
    splits = load_dataset(dataset_repo)
    assert {name: sorted(split["label"]) for name, split in splits.items()} == {
        "train": [0] * 4 + [1] * 4, "validation": [0, 1]}  # 20% held out, stratified


def test_offline_mode_is_named_as_the_reason(tiny_model_dir, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnreachableError, match=r"^HF_HUB_OFFLINE=1 is set: unset it .* to push to model repo"):
        push_model(tiny_model_dir, "alice/offline")


@pytest.fixture
def staged(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    (project / "space" / "ui_helpers.py").write_text("from cleanmessy.verdict import Verdict\n")
    stage = tmp_path / "stage"
    shipped = stage_space(stage, "alice/model", "Clean or Messy", project / "space", datasets=["alice/rooms"])
    return stage, shipped


def test_space_bundle_ships_app_core_and_derived_requirements(staged):
    stage, shipped = staged
    names = {str(path) for path in shipped}
    assert {"space/app.py", "space/ui_helpers.py", "cleanmessy/__init__.py", "cleanmessy/predictor.py"} <= names
    assert "space/deploy.py" not in names and not (stage / "space" / "deploy.py").exists()
    assert "cleanmessy/imagefolder.py" not in names  # training-only: the app never imports it

    requirements = (stage / "requirements.txt").read_text().split()
    pinned = {normalise(line.split("==")[0]) for line in requirements}
    assert pinned.isdisjoint({"selenium", "python-telegram-bot", "pytest", "datasets", "gradio", "accelerate"})
    # It serves the int8 ONNX model and draws the heatmap by occlusion: no PyTorch, no CUDA wheels.
    assert pinned.isdisjoint({"torch", "transformers"}) and not any(line.startswith("-") for line in requirements)
    assert {"onnxruntime", "pillow", "numpy", "huggingface-hub"} <= pinned
    root = root_pins(ROOT_DIR / "requirements.txt")
    assert all(line == root[normalise(line.split("==")[0])] for line in requirements)

    card = front_matter((stage / "README.md").read_text())
    assert card["sdk"] == "gradio" and card["sdk_version"] == metadata.version("gradio") == root["gradio"].split("==")[1]
    assert card["app_file"] == "space/app.py" and card["models"] == ["alice/model"]
    assert card["suggested_hardware"] == "cpu-basic" and card["datasets"] == ["alice/rooms"]
    assert card["preload_from_hub"] == ["alice/model config.json,preprocessor_config.json,onnx/model_quantized.onnx"]
    assert {"title", "emoji", "colorFrom", "colorTo"} <= set(card)
    assert "MODEL_ID" in (stage / "README.md").read_text() and "FEEDBACK_REPO" in (stage / "README.md").read_text()


def test_space_bundle_for_a_model_without_onnx_gets_cpu_torch_only(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    stage_space(tmp_path / "stage", "alice/model", "T", project / "space", pytorch=True)
    lines = (tmp_path / "stage" / "requirements.txt").read_text().splitlines()
    root = root_pins(ROOT_DIR / "requirements.txt")
    assert lines[:3] == ["--extra-index-url https://download.pytorch.org/whl/cpu",
                         root["torch"].split("+")[0] + "+cpu", root["transformers"]]
    assert not any(line.startswith("torch==") and not line.endswith("+cpu") for line in lines)
    card = front_matter((tmp_path / "stage" / "README.md").read_text())
    assert card["preload_from_hub"] == ["alice/model config.json,preprocessor_config.json,model.safetensors"]


def test_private_model_is_not_preloaded_and_the_card_says_what_to_do(tmp_path):
    project = make_scratch_project(tmp_path / "project")
    stage_space(tmp_path / "stage", "alice/secret", "T", project / "space", private_model=True)
    text = (tmp_path / "stage" / "README.md").read_text()
    assert "preload_from_hub" not in front_matter(text) and "datasets" not in front_matter(text)
    assert "HF_TOKEN" in text and "build secret" in text


@pytest.mark.parametrize("pin, message", [
    ("gradio==6.32.0.dev0", "must be a released gradio version"),
    ("gradio==6.31.0rc1", "must be a released gradio version"),
    ("gradio>=6", "must pin gradio exactly"),
    ("gradio==6.30.0", "gradio 6.31.0 is installed but requirements.txt pins 6.30.0"),
])
def test_sdk_version_must_be_the_released_pinned_gradio(tmp_path, pin, message):
    from space.deploy import DeployError, sdk_version

    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"numpy==2.4.6\n{pin}\n")
    if "6.31.0" in message:
        message = message.replace("6.31.0", metadata.version("gradio"))
    with pytest.raises(DeployError, match=message.replace(".", r"\.")):
        sdk_version(requirements)
    assert sdk_version(ROOT_DIR / "requirements.txt") == metadata.version("gradio")


def test_space_bundle_imports_only_what_it_ships(staged):
    stage, _ = staged
    files = {str(p.relative_to(stage)): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
    assert missing_local_modules(files) == []
    owners = metadata.packages_distributions()
    pinned = {normalise(line.split("==")[0]) for line in files["requirements.txt"].decode().split()}
    for path, content in files.items():
        if path.endswith(".py"):
            for name in top_level_imports(content.decode()) - {"cleanmessy", "space", "gradio"}:
                assert {normalise(d) for d in owners.get(name, [name])} & pinned, f"{path} imports {name}"
