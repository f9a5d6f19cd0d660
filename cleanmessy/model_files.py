"""Find and read a saved model's files, from a local directory or a Hub repo.

Serving with an ONNX backend needs only three small files besides the ONNX graph:
``config.json`` (the labels) and ``preprocessor_config.json`` (resize, crop, normalise),
read here as plain JSON. Importing torch and transformers costs about 3 s on a small
CPU, most of a serverless cold start, so they are imported only by
:func:`load_model` (the PyTorch weights, for the eager backend and explanations) and by
:meth:`ProcessorConfig.load` (an image processor the fast path cannot reproduce).

Hub ids are fetched through the Hub cache (``hf_hub_download``), so a model used once
keeps working offline with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cleanmessy.errors import ModelLoadError
from cleanmessy.hub import describe as describe_hub_error
from cleanmessy.labels import ID2LABEL

CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"

CROPPING_PROCESSOR_TYPES = frozenset({"BitImageProcessor", "BitImageProcessorFast", "BitImageProcessorPil"})
"""Resize, centre crop, rescale, normalise (Dinov2 uses Bit's): read as JSON when every setting is written out."""

NON_CROPPING_PROCESSOR_TYPES = frozenset({"ViTImageProcessor", "ViTImageProcessorFast", "ViTImageProcessorPil"})
"""Resize, rescale, normalise, never crop: read as JSON too."""

_PLAIN_KEYS = ("do_resize", "size", "resample", "do_rescale", "do_normalize")


def model_file(source: str, filename: str, token: str | None = None) -> Path | None:
    """Local path of ``filename`` in a model directory or Hub repo (downloaded into the Hub cache).

    ``None`` when the directory or repo has no such file (or it is offline and not cached);
    other Hub failures (no such repo, bad token, no network) raise ``huggingface_hub`` errors.
    """
    local = Path(source)
    if local.is_dir():
        path = local / filename
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(source, filename, token=token))
    except EntryNotFoundError:
        return None


def model_revision(source: str, token: str | None = None) -> str | None:
    """The commit a Hub model was loaded from (read from its cache path), ``None`` for a local directory."""
    if Path(source).is_dir():
        return None
    try:
        path = model_file(source, CONFIG_FILE, token)
    except Exception:  # noqa: BLE001 - informational only; loading the model reports real Hub problems
        return None
    return path.parent.name if path is not None and path.parent.parent.name == "snapshots" else None


def _required_file(source: str, filename: str, token: str | None, missing: str) -> Path:
    """``model_file`` that raises ``ModelLoadError``: ``missing`` when the file is absent, the Hub's reason otherwise."""
    try:
        path = model_file(source, filename, token)
    except Exception as error:
        if hub_error := describe_hub_error(error, source, action="load", token=token):
            raise ModelLoadError(str(hub_error)) from error
        raise ModelLoadError(f"could not read {filename} of {source!r}: {error}") from error
    if path is None:
        raise ModelLoadError(missing)
    return path


def _read_json(path: Path, source: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path.name} of {source!r} is not valid JSON: {error}") from error


def _no_config(source: str) -> str:
    return f"{source} has no config.json: it is not a saved model directory"


def check_labels(id2label: dict, source: str) -> list[str]:
    """The label names in id order, or ``ModelLoadError`` unless they are exactly clean/messy."""
    labels = {int(i): str(name).lower() for i, name in (id2label or {}).items()}
    if labels != ID2LABEL:
        raise ModelLoadError(f"{source} is not a clean/messy model: its labels are {labels}, expected {ID2LABEL}")
    return [labels[i] for i in range(len(labels))]


def read_labels(source: str, token: str | None = None) -> list[str]:
    """The model's labels read from its ``config.json``, checked to be clean/messy."""
    path = _required_file(source, CONFIG_FILE, token, _no_config(source))
    return check_labels(_read_json(path, source).get("id2label"), source)


def _no_processor(source: str) -> str:
    return (f"{source!r} has no image processor (preprocessor_config.json): "
            "save it beside the weights, as `python -m training` does")


class ProcessorConfig:
    """A plain image processor's ``preprocessor_config.json``, read as JSON (no transformers import).

    Its keys read as attributes (``size``, ``crop_size``, ``image_mean``...), which is all
    :class:`cleanmessy.preprocess.Preprocessor` and :func:`cleanmessy.explain.view_box`
    look at. :meth:`load` builds the real transformers processor when one is needed.
    """

    def __init__(self, values: dict[str, Any], directory: Path) -> None:
        self._values = values
        self.directory = directory
        self._loaded = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @staticmethod
    def is_plain(values: dict[str, Any]) -> bool:
        """Whether ``values`` describe a processor we reproduce, with every setting written out."""
        kind = values.get("image_processor_type")
        if kind in NON_CROPPING_PROCESSOR_TYPES:
            crop_known = not values.get("do_center_crop")
        else:
            crop_known = kind in CROPPING_PROCESSOR_TYPES and "do_center_crop" in values
        return (crop_known
                and all(key in values for key in _PLAIN_KEYS)
                and (not values["do_rescale"] or "rescale_factor" in values)
                and (not values["do_normalize"] or {"image_mean", "image_std"} <= values.keys())
                and (not values.get("do_center_crop") or "crop_size" in values))

    def load(self):
        """The transformers image processor these settings describe (imported and built on first use)."""
        if self._loaded is None:
            from transformers import AutoImageProcessor

            self._loaded = AutoImageProcessor.from_pretrained(self.directory)
        return self._loaded


def read_image_processor(source: str, token: str | None = None):
    """The model's image processor: a :class:`ProcessorConfig` when it is a plain one, else transformers' own."""
    path = _required_file(source, PROCESSOR_FILE, token, _no_processor(source))
    values = _read_json(path, source)
    if ProcessorConfig.is_plain(values):
        return ProcessorConfig(values, path.parent)
    return load_transformers_processor(source, token)


def load_transformers_processor(source: str, token: str | None = None):
    """``AutoImageProcessor.from_pretrained(source)``, raising ``ModelLoadError`` with a clear reason."""
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(source, token=token)
    except (OSError, ValueError) as error:
        if not Path(source).exists() and (hub_error := describe_hub_error(error, source, action="load", token=token)):
            raise ModelLoadError(str(hub_error)) from error
        raise ModelLoadError(_no_processor(source)) from error


def load_model(source: str, token: str | None = None, threads: int | None = None):
    """The PyTorch classifier (transformers ``from_pretrained``), labels checked; sets torch's thread count."""
    import torch
    from transformers import AutoModelForImageClassification

    local = Path(source)
    if local.exists() and not (local / CONFIG_FILE).is_file():
        raise ModelLoadError(_no_config(source))
    if threads:
        torch.set_num_threads(threads)
    try:
        model = AutoModelForImageClassification.from_pretrained(source, token=token)
    except OSError as error:
        if not local.exists() and (hub_error := describe_hub_error(error, source, action="load", token=token)):
            raise ModelLoadError(str(hub_error)) from error
        where = "directory" if local.exists() else "Hub repo"
        raise ModelLoadError(f"could not load the model from {where} {source!r}: {error}") from error
    check_labels(model.config.id2label, source)
    return model.eval()


def load_model_and_processor(source: str, token: str | None = None):
    """``(model, image_processor)`` with stock transformers, raising ``ModelLoadError`` with a clear reason."""
    model = load_model(source, token)
    return model, load_transformers_processor(source, token)
