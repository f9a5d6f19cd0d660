"""Which model is served, pinned to one Hub revision: ``MODEL_ID`` + ``MODEL_REVISION``.

A pinned Hub model (a tag such as ``v3``, a branch, or a commit) is fetched as one snapshot
(``snapshot_download``): every file served comes from the same commit, and that commit is what
``/about``, the Space footer and the logs report. Without a revision a Hub model follows
``main`` as before (files fetched lazily); the commit it resolved to is still reported.
Rolling back is pointing ``MODEL_REVISION`` at the previous tag.

>>> resolve_model("models/clean-or-messy").describe()       # doctest: +SKIP
'models/clean-or-messy'
>>> resolve_model("alice/clean-or-messy", "v2").describe()  # doctest: +SKIP
'alice/clean-or-messy@v2 (commit 1a2b3c4d5e6f)'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cleanmessy.errors import ModelLoadError
from cleanmessy.hub import describe as describe_hub_error
from cleanmessy.model_files import CONFIG_FILE, model_file

SERVING_FILES = ["*.json", "*.safetensors", "README.md", "eval/*.json", "onnx/*"]
"""What a pinned snapshot downloads: config, image processor, weights, card, metrics and ONNX graphs."""


@dataclass(frozen=True)
class ServedModel:
    """A model id, the revision asked for, the commit it resolved to, and the path loaders read."""

    model_id: str
    path: str
    revision: str | None = None
    commit: str | None = None

    def describe(self) -> str:
        """``id`` for a local directory, ``id@revision (commit abc…)`` for a Hub repo."""
        if self.commit is None:
            return self.model_id
        revision = self.revision or "main"
        if self.commit.startswith(revision):
            return f"{self.model_id}@{self.commit[:12]}"
        return f"{self.model_id}@{revision} (commit {self.commit[:12]})"


def split_revision(spec: str) -> tuple[str, str | None]:
    """``"user/name@v2"`` -> ``("user/name", "v2")``; a local path or a bare id has no revision."""
    if Path(spec).exists() or "@" not in spec:
        return spec, None
    model_id, revision = spec.rsplit("@", 1)
    return model_id, revision or None


def _snapshot_commit(path: Path) -> str | None:
    """The commit of a file inside the Hub cache (``…/snapshots/<commit>/file``), else ``None``."""
    parts = path.parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None


def resolve_model(model_id: str, revision: str | None = None, token: str | None = None) -> ServedModel:
    """Where to read ``model_id`` from, pinned to ``revision`` for a Hub repo; ``ModelLoadError`` on failure."""
    if Path(model_id).is_dir():
        if revision:
            raise ModelLoadError(
                f"MODEL_REVISION={revision} applies to Hub repos, but {model_id} is a local directory: unset it"
            )
        return ServedModel(model_id, model_id)
    if not revision:
        try:
            config = model_file(model_id, CONFIG_FILE, token)
        except Exception:  # reading the labels next reports why, in the usual words
            config = None
        return ServedModel(model_id, model_id, None, _snapshot_commit(config) if config else None)
    from huggingface_hub import snapshot_download

    try:
        path = Path(snapshot_download(model_id, revision=revision, allow_patterns=SERVING_FILES, token=token))
    except Exception as error:
        if hub_error := describe_hub_error(error, model_id, action="load", token=token):
            raise ModelLoadError(str(hub_error)) from error
        raise ModelLoadError(f"could not fetch {model_id!r} at revision {revision}: {error}") from error
    return ServedModel(model_id, str(path), revision, path.name)
