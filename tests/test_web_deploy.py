"""``python -m space.deploy --static``: the in-browser page as a static Space, against the loopback Hub."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest
import yaml
from huggingface_hub import HfApi

from cleanmessy.settings import DEFAULT_UNSURE_THRESHOLD
from space.deploy import main as deploy_main
from space.deploy import stage_space
from space.web_route import PAGE_FILES, VENDOR_FILES, vendor_file
from tests.helpers import ROOT_DIR


def _npm_installed() -> bool:
    try:
        vendor_file("transformers.min.js")
    except Exception:
        return False
    return True


pytestmark = pytest.mark.skipif(not _npm_installed(), reason="`npm ci` in web/ not run (make setup)")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def push(model_dir, repo_id: str, *, private: bool = False, skip: str | None = None) -> str:
    api = HfApi()
    api.create_repo(repo_id, private=private)
    api.upload_folder(repo_id=repo_id, folder_path=model_dir, ignore_patterns=[skip] if skip else None)
    return api.model_info(repo_id).sha


def front_matter(readme: bytes) -> dict:
    return yaml.safe_load(readme.decode().split("---")[1])


def test_static_space_holds_the_page_and_reads_the_model_repo_at_one_commit(hub, exported_model_dir, capsys):
    model_repo, space_repo = unique("alice/web-model"), unique("alice/web-page")
    sha = push(exported_model_dir, model_repo)
    assert deploy_main(["--static", "--repo", space_repo, "--model", model_repo]) == 0
    assert f"{hub.url}/spaces/{space_repo}" in capsys.readouterr().out

    files = hub.files(space_repo, "space")
    assert hub.repo(space_repo, "space").sdk == "static"
    meta = front_matter(files["README.md"])
    assert meta["sdk"] == "static" and meta["app_file"] == "index.html" and meta["models"] == [model_repo]
    assert meta["custom_headers"] == {"cross-origin-embedder-policy": "require-corp",
                                      "cross-origin-opener-policy": "same-origin",
                                      "cross-origin-resource-policy": "cross-origin"}
    for name in PAGE_FILES:
        assert files[name] == (ROOT_DIR / "web" / name).read_bytes(), name
    for name in VENDOR_FILES:
        assert files[f"vendor/{name}"] == vendor_file(name).read_bytes(), name
    assert files["vendor/ort-wasm-simd-threaded.wasm"][:4] == b"\0asm"
    settings = json.loads(files["settings.json"])
    assert settings["model"] == model_repo and settings["revision"] == sha and settings["local"] is False
    assert settings["remote_host"] == f"{hub.url}/" and settings["unsure_threshold"] == DEFAULT_UNSURE_THRESHOLD
    assert not any(name.endswith(".py") or "node_modules" in name for name in files)

    # deploying again (a newer model) updates the pinned commit in place
    api = HfApi()
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="extra.json", repo_id=model_repo)
    assert deploy_main(["--static", "--repo", space_repo, "--model", model_repo]) == 0
    assert json.loads(hub.files(space_repo, "space")["settings.json"])["revision"] == api.model_info(model_repo).sha


def test_a_static_space_needs_a_public_model_with_the_int8_export(hub, exported_model_dir, capsys):
    no_onnx = unique("alice/no-onnx")
    push(exported_model_dir, no_onnx, skip="onnx/*")
    assert deploy_main(["--static", "--repo", unique("alice/page"), "--model", no_onnx]) == 2
    assert "has no onnx/model_quantized.onnx" in capsys.readouterr().err

    private = unique("alice/private")
    push(exported_model_dir, private, private=True)
    assert deploy_main(["--static", "--repo", unique("alice/page"), "--model", private]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: model repo") and "is private" in error and "Traceback" not in error


def test_the_gradio_space_bundle_carries_the_page(tmp_path):
    stage_space(tmp_path, "alice/model", "Clean or Messy")
    for name in PAGE_FILES:
        assert (tmp_path / "web" / name).is_file(), name
    for name in VENDOR_FILES:
        assert (tmp_path / "web" / "vendor" / name).is_file(), name
    assert not (tmp_path / "web" / "node_modules").exists()
    # the deployed app finds the vendored files in web/vendor/ without node_modules
    assert vendor_file("ort-wasm-simd-threaded.wasm", tmp_path / "web") == tmp_path / "web" / "vendor" / "ort-wasm-simd-threaded.wasm"
    shutil.rmtree(tmp_path / "web")


def test_the_app_serves_a_hub_model_fetched_once_through_the_hub_cache(hub, exported_model_dir):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from space.web_route import web_routes

    model_repo = unique("alice/served")
    push(exported_model_dir, model_repo)
    client = TestClient(Starlette(routes=web_routes(model_repo, 0.7, isolated=False)))
    settings = client.get("/web/settings.json").json()
    assert settings["unsure_threshold"] == 0.7 and settings["local"] is True
    served = client.get(f"/web/model/{settings['model']}/onnx/model_quantized.onnx")
    assert served.status_code == 200 and "Cross-Origin-Embedder-Policy" not in served.headers
    assert served.content == (exported_model_dir / "onnx" / "model_quantized.onnx").read_bytes()
    assert client.get("/web/", follow_redirects=False).status_code == 200
    assert client.get("/web", follow_redirects=False).headers["location"] == "/web/"
