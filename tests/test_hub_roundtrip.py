"""The Hub round trip, end to end against the loopback Hub, with the real CLIs and stock libraries.

images -> ``python -m scraper push`` -> ``load_dataset(repo)`` -> ``python -m training --data repo
--push-to-hub`` -> ``pipeline()`` from the repo id in a fresh process -> ``python -m space.deploy``
-> the Space holds an app that imports only what it ships, and it serves from a checkout of the Space.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import urllib.request
import uuid
from importlib import metadata
from pathlib import Path

import yaml
from datasets import load_dataset
from huggingface_hub import snapshot_download

from scraper.__main__ import main as scraper_main
from space.deploy import main as deploy_main
from space.deploy import normalise, root_pins
from tests.helpers import ROOT_DIR, make_room_image, write_image_folder
from tests.hub_helpers import missing_local_modules, top_level_imports
from tests.space_venv import running_space, space_env
from training.cli import main as training_main
from training.publish import push_model

SNIPPET_HEADING = "Use the model in your own code"


def readme_snippet() -> str:
    """The first ```python block under the heading "Use the model in your own code" in README.md."""
    pattern = rf"^#+ {SNIPPET_HEADING}\s*$.*?^```python\n(.*?)^```"
    match = re.search(pattern, (ROOT_DIR / "README.md").read_text("utf-8"), flags=re.S | re.M)
    assert match, f"no ```python block under '{SNIPPET_HEADING}' in README.md"
    return match.group(1)


def snippet_model_id(snippet: str) -> str:
    return re.search(r'model="([^"]+)"', snippet).group(1)


def run_snippet(snippet: str, hub_url: str, workdir: Path) -> list[dict]:
    """Run ``snippet`` in a fresh interpreter that knows only the Hub endpoint; return what it printed."""
    workdir.mkdir(parents=True, exist_ok=True)
    make_room_image(messy=True, size=(120, 90), seed=7).save(workdir / "room.jpg")
    env = {"HF_ENDPOINT": hub_url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(workdir / "hf-home")}
    result = subprocess.run([sys.executable, "-c", snippet], cwd=workdir, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def assert_two_class_prediction(prediction: list[dict]) -> None:
    assert {row["label"] for row in prediction} == {"clean", "messy"}
    assert abs(sum(row["score"] for row in prediction) - 1) < 1e-4


def test_readme_snippet_runs_verbatim_after_a_push(hub, tiny_model_dir, tmp_path):
    snippet = readme_snippet()
    code_lines = [line for line in snippet.splitlines() if line.strip()]
    assert len(code_lines) == 3 and 'pipeline("image-classification", model=' in snippet
    push_model(tiny_model_dir, snippet_model_id(snippet))
    assert_two_class_prediction(run_snippet(snippet, hub.url, tmp_path / "user"))


def write_manifest(folder: Path) -> None:
    records = [
        {"query": f"{label} room", "label": label, "source_url": f"https://img.example.org/{path.name}",
         "page_url": f"https://example.org/{label}", "sha256": "0" * 64, "phash": "0" * 16, "width": 96,
         "height": 80, "bytes": path.stat().st_size, "time": "2026-11-20T10:00:00Z"}
        for label in ("clean", "messy") for path in sorted((folder / "train" / label).iterdir())
    ]
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_round_trip(hub, tiny_model_dir, tmp_path, capsys):
    suffix = uuid.uuid4().hex[:6]
    dataset_repo, model_repo, space_repo = (f"alice/rooms-{suffix}", f"alice/clean-or-messy-{suffix}",
                                            f"alice/clean-or-messy-app-{suffix}")

    # 1. generated images -> dataset push
    folder = write_image_folder(tmp_path / "rooms", per_class=4)
    write_manifest(folder)
    assert scraper_main(["push", "--data", str(folder), "--repo", dataset_repo]) == 0
    assert f"{hub.url}/datasets/{dataset_repo}" in capsys.readouterr().out

    # 2. stock load_dataset from the Hub id: both splits, the label names, the card
    dataset = load_dataset(dataset_repo)
    assert set(dataset) == {"train", "validation"}
    assert dataset["train"].features["label"].names == ["clean", "messy"]
    assert sorted(dataset["validation"]["label"]) == [0] * 4 + [1] * 4
    card = hub.files(dataset_repo, "dataset")["README.md"].decode()
    assert yaml.safe_load(card.split("---")[1])["task_categories"] == ["image-classification"]
    assert "| clean room | clean | 4 |" in card

    # 3-4. one epoch of a tiny config from the Hub dataset, then the model push
    output = tmp_path / "model"
    assert training_main(["--data", dataset_repo, "--base", str(tiny_model_dir), "--output", str(output),
                          "--epochs", "1", "--batch-size", "4", "--no-export-onnx",
                          "--push-to-hub", model_repo]) == 0
    assert f"{hub.url}/{model_repo}" in capsys.readouterr().out
    pushed = hub.files(model_repo)
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "eval/metrics.json",
            "eval/confusion_matrix.png", "eval/reliability.png", "eval/training_curve.png"} <= set(pushed)
    assert hub.repo(model_repo).commits[hub.repo(model_repo).head]["model.safetensors"].lfs

    # 5-6. stock pipeline() from the repo id in a fresh process that knows only HF_ENDPOINT: a prediction
    snippet = readme_snippet().replace(snippet_model_id(readme_snippet()), model_repo)
    assert_two_class_prediction(run_snippet(snippet, hub.url, tmp_path / "user"))

    # 7. Space deploy, then the Space holds a runnable app that imports only what it ships
    assert deploy_main(["--repo", space_repo, "--model", model_repo]) == 0
    space = hub.files(space_repo, "space")
    meta = yaml.safe_load(space["README.md"].decode().split("---")[1])
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == metadata.version("gradio")
    assert meta["app_file"] in space and meta["models"] == [model_repo]
    assert hub.repo(space_repo, "space").variables["MODEL_ID"]["value"] == model_repo
    assert hub.repo(space_repo, "space").sdk == "gradio"
    for path in ROOT_DIR.joinpath("space").glob("*.py"):
        assert (f"space/{path.name}" in space) == (path.name != "deploy.py"), path.name

    requirements = space["requirements.txt"].decode().split()
    pinned = {normalise(line.split("==")[0]) for line in requirements}
    assert pinned.isdisjoint({"selenium", "python-telegram-bot", "pytest"})
    # This model was pushed without its ONNX export, so the Space needs PyTorch: the CPU build, never CUDA's.
    assert root_pins(ROOT_DIR / "requirements.txt")["torch"].split("+")[0] + "+cpu" in requirements
    assert "https://download.pytorch.org/whl/cpu" in requirements
    assert missing_local_modules(space) == []
    owners = metadata.packages_distributions()
    for path, content in space.items():
        if path.endswith(".py"):
            compile(content, path, "exec")
            for name in top_level_imports(content.decode()) - {"cleanmessy", "space", "gradio"}:
                assert {normalise(d) for d in owners.get(name, [name])} & pinned, f"{path} imports {name}"

    # ... and it starts and serves from the Space's files alone, with the variables the Space runtime injects
    checkout = Path(snapshot_download(space_repo, repo_type="space", local_dir=tmp_path / "space-checkout"))
    home = tmp_path / "space-home"
    variables = hub.repo(space_repo, "space").variables
    env = space_env(home, hub.url, {key: value["value"] for key, value in variables.items()})
    with running_space(Path(sys.executable), checkout, env, tmp_path / "space-app.log", timeout=180) as (url, _, _):
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode("utf-8", "replace")
    assert "gradio" in page.lower()
    log = (tmp_path / "space-app.log").read_text()
    assert str(ROOT_DIR) not in log and "Traceback" not in log, log[-3000:]
