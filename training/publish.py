"""Publish a trained model directory to a Hub model repo (``python -m training ... --push-to-hub REPO``).

>>> from training.publish import push_model
>>> push_model(Path("models/clean-or-messy"), "alice/clean-or-messy")    # doctest: +SKIP
'https://huggingface.co/alice/clean-or-messy'

What goes up: weights and config, the image processor, the rendered model card (``README.md``),
``eval/`` (metrics and plots the card shows) and ``onnx/`` when present. Pushing again updates
the repo in place: changed files are replaced, unchanged ones skipped, and files this project
owns that the new push no longer has (an old plot, a removed ONNX export) are deleted.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from cleanmessy.hub import check_image_processor, hub_errors, repo_url
from cleanmessy.model_files import CONFIG_FILE, ONNX_DIR, PROCESSOR_FILE, WEIGHTS_PATTERN, check_model_dir

log = logging.getLogger(__name__)

MODEL_FILES = [
    CONFIG_FILE,
    PROCESSOR_FILE,
    WEIGHTS_PATTERN,
    "model.safetensors.index.json",
    "README.md",
    "eval/*",
    f"{ONNX_DIR}/*",
]


def _commit_message(model_dir: Path) -> str:
    metrics_file = model_dir / "eval" / "metrics.json"
    if not metrics_file.is_file():
        return "Upload clean/messy model"
    metrics = json.loads(metrics_file.read_text())
    return (f"Upload clean/messy model: {metrics['accuracy']:.1%} accuracy "
            f"on {metrics['num_examples']} validation images")


def push_model(model_dir: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Create ``repo_id`` if needed and upload the model directory to it; return the repo URL.

    Raises ``ModelLoadError`` for an incomplete directory and ``HubAccessError`` (one line, no token)
    for Hub failures: no token, rejected token, a namespace you don't own.
    """
    from huggingface_hub import HfApi

    model_dir = Path(model_dir)
    check_model_dir(model_dir, need=(CONFIG_FILE, WEIGHTS_PATTERN),
                    advice=f"train first with `python -m training --output {model_dir}`")
    check_image_processor(model_dir, str(model_dir))
    if not (model_dir / "README.md").is_file():
        log.warning("%s has no README.md: the repo will have no model card", model_dir)
    api = HfApi(token=token)
    with hub_errors(repo_id, "model", action="push to", token=token):
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=model_dir,
            allow_patterns=MODEL_FILES,
            delete_patterns=MODEL_FILES,
            commit_message=_commit_message(model_dir),
        )
    return repo_url(repo_id)
