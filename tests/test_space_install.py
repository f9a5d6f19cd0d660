"""Acceptance: the deployed Space installs from its own requirements.txt, without torch, and answers.

**This test installs packages from the registry** (PyPI, or the index pip is configured with) into a
fresh venv, as the Space builder does: ``gradio==<sdk_version>`` plus the Space's
``requirements.txt`` (marked ``registry``: deselect with ``-m "not registry"``). About 590 MB
unpacked; it took 3 minutes here (2 shared cores, all of it unpacking), with downloads served by pip's
cache (or the configured mirror) after the first run. It is skipped, saying why, only when pypi.org
cannot be reached. Everything else stays on 127.0.0.1: the Space is deployed to
the loopback Hub, downloads its model from it into an empty Hub cache, and serves on loopback.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from space.deploy import main as deploy_main
from tests.onnx_helpers import room_set
from tests.space_venv import front_matter, has_module, install_space, pypi_reachable, running_space, space_env, tree_size

pytestmark = [pytest.mark.registry,
              pytest.mark.skipif(not pypi_reachable(), reason="installs the Space from PyPI, which is unreachable")]


def test_deployed_space_installs_without_torch_and_answers(hub, exported_model_dir: Path, tmp_path: Path, capsys) -> None:
    from gradio_client import Client, handle_file
    from huggingface_hub import HfApi, snapshot_download

    suffix = uuid.uuid4().hex[:6]
    model_repo, space_repo = f"spaceuser/clean-or-messy-{suffix}", f"spaceuser/app-{suffix}"
    api = HfApi(endpoint=hub.url, token="hf_spaceuser")
    api.create_repo(model_repo)
    api.upload_folder(repo_id=model_repo, folder_path=str(exported_model_dir))  # with onnx/model_quantized.onnx

    assert deploy_main(["--repo", space_repo, "--model", model_repo, "--token", "hf_spaceuser"]) == 0
    checkout = Path(snapshot_download(space_repo, repo_type="space", local_dir=tmp_path / "space"))
    requirements = (checkout / "requirements.txt").read_text()
    assert "torch" not in requirements and "transformers" not in requirements and "nvidia" not in requirements
    assert front_matter(checkout / "README.md")["preload_from_hub"] == [
        f"{model_repo} config.json,preprocessor_config.json,onnx/model_quantized.onnx"]

    venv = tmp_path / "venv"
    python, seconds = install_space(checkout, venv)
    assert not has_module(python, "torch") and not has_module(python, "transformers")
    assert has_module(python, "gradio") and has_module(python, "onnxruntime")
    size = tree_size(venv)
    with capsys.disabled():
        print(f"\n[space install] fresh venv from the Space's requirements: {size / 2**20:.0f} MiB, "
              f"installed in {seconds:.0f} s, no torch")

    variables = {name: value["value"] for name, value in hub.repo(space_repo, "space").variables.items()}
    env = space_env(tmp_path / "home", hub.url, variables)
    photo = tmp_path / "room.png"
    room_set(1, seed=77)[0][1].save(photo)  # a messy generated room
    with running_space(python, checkout, env, tmp_path / "space.log") as (url, _, _):
        client = Client(url, verbose=False)
        answer = client.predict(handle_file(str(photo)), api_name="/predict")
        headline, meter, heatmap, _ = client.predict(handle_file(str(photo)), api_name="/check")
    assert answer["label"] in ("clean", "messy") and set(answer["scores"]) == {"clean", "messy"}
    assert meter["label"] == answer["label"] and headline.startswith("## ") and Path(heatmap).is_file()
    log = (tmp_path / "space.log").read_text()
    assert "onnx-int8" in log and "Traceback" not in log, log[-3000:]
    assert (tmp_path / "home" / "hf").is_dir()  # the model came through the (empty) Hub cache
