"""Everything that knows a saved model's folder: its file names, its image processor, its errors.

A model is a local directory or a Hub repo laid out the way transformers (and transformers.js) save it:

    config.json                     the labels (id2label) and architecture
    preprocessor_config.json        the image processor: resize, centre crop, rescale, normalise
    *.safetensors                   the PyTorch weights
    onnx/model.onnx                 fp32 export (``python -m training.export``)
    onnx/model_quantized.onnx       int8 export

This module owns those names (:data:`CONFIG_FILE`, :data:`ONNX_FILES`...), the test for "is this a
Hub id" (:func:`is_hub_id`), the photo file endings (:data:`IMAGE_SUFFIXES`), the one reading of an
image processor's geometry (:func:`geometry`), and the one error for "this is not a model directory,
because ..." (:class:`NotAModelError`, :func:`check_model_dir`).

Serving with an ONNX backend needs only ``config.json`` and ``preprocessor_config.json`` besides the
ONNX graph, read here as plain JSON. Importing torch and transformers costs about 3 s on a small CPU,
most of a serverless cold start, so they are imported only by :func:`load_model` (the PyTorch weights,
for the eager backend and explanations) and by :meth:`ProcessorConfig.load` (an image processor the
fast path cannot reproduce). Hub ids are fetched through the Hub cache (``hf_hub_download``), so a
model used once keeps working offline with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanmessy.errors import ModelLoadError, PyTorchMissingError
from cleanmessy.hub import describe as describe_hub_error
from cleanmessy.labels import ID2LABEL

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""File endings of the photos a model reads (what Pillow decodes and the core accepts), lower case."""

CONFIG_FILE = "config.json"
PROCESSOR_FILE = "preprocessor_config.json"
WEIGHTS_PATTERN = "*.safetensors"
ONNX_DIR = "onnx"
ONNX_FILES = {"onnx-int8": f"{ONNX_DIR}/model_quantized.onnx", "onnx-fp32": f"{ONNX_DIR}/model.onnx"}
"""Where ``python -m training.export`` puts each ONNX model (the transformers.js layout)."""

CROPPING_PROCESSOR_TYPES = frozenset({"BitImageProcessor", "BitImageProcessorFast", "BitImageProcessorPil"})
"""Resize, centre crop, rescale, normalise (Dinov2 uses Bit's): read as JSON when every setting is written out."""

NON_CROPPING_PROCESSOR_TYPES = frozenset({"ViTImageProcessor", "ViTImageProcessorFast", "ViTImageProcessorPil"})
"""Resize, rescale, normalise, never crop: read as JSON too."""

_PLAIN_KEYS = ("do_resize", "size", "resample", "do_rescale", "do_normalize")


def is_hub_id(source: str | Path) -> bool:
    """Whether ``source`` names a Hub repo (``user/name``) rather than a local path."""
    text = str(source)
    return text.count("/") == 1 and not text.startswith((".", "/")) and not Path(text).exists()


# ---------------------------------------------------------------- "not a model directory, because ..."


class NotAModelError(ModelLoadError):
    """A directory or repo is not a saved clean/messy model; the message says which file is missing and what to do."""


_MISSING = {
    CONFIG_FILE: "{source} has no config.json: it is not a saved model directory",
    WEIGHTS_PATTERN: "{source} has no *.safetensors weights: it is not a saved model directory",
    PROCESSOR_FILE: ("{source} has no image processor (preprocessor_config.json): "
                     "save it beside the weights, as `python -m training` does"),
}


def not_a_model(source: str | Path, missing: str, advice: str = "") -> NotAModelError:
    """The error for ``source`` lacking ``missing`` (one of the model files), with optional ``advice`` appended."""
    return NotAModelError(_MISSING[missing].format(source=source) + (f": {advice}" if advice else ""))


def check_model_dir(directory: str | Path, *, need: tuple[str, ...] = (CONFIG_FILE, WEIGHTS_PATTERN, PROCESSOR_FILE),
                    advice: str = "") -> Path:
    """``directory`` as a ``Path``, or :class:`NotAModelError` for the first of the ``need`` files it lacks."""
    directory = Path(directory)
    for name in need:
        if not any(directory.glob(name)):
            raise not_a_model(directory, name, advice)
    return directory


# ---------------------------------------------------------------- the image processor's geometry


def size_entries(size: Any) -> dict[str, int]:
    """A processor's ``size``/``crop_size`` (dict, ``SizeDict`` or ``None``) as a plain dict of its set entries."""
    return {key: int(value) for key, value in dict(size or {}).items() if value}


@dataclass(frozen=True)
class Geometry:
    """Where an image processor resizes and crops a photo, read once from its settings.

    ``resize`` is ``("shortest_edge", side)``, ``("fixed", (height, width))`` or ``None`` (no resize);
    ``crop`` is the centre crop's ``(height, width)`` or ``None``.
    """

    resize: tuple[str, Any] | None
    crop: tuple[int, int] | None

    @property
    def input_size(self) -> tuple[int, int] | None:
        """``(height, width)`` of every model input, or ``None`` when it depends on the photo."""
        if self.crop:
            return self.crop
        return self.resize[1] if self.resize and self.resize[0] == "fixed" else None

    @property
    def min_side(self) -> int | None:
        """The smallest side a photo may be shrunk to before the resize without losing detail (JPEG draft)."""
        if self.resize is None:
            return None
        kind, target = self.resize
        return int(target) if kind == "shortest_edge" else max(target)

    def resized(self, width: int, height: int) -> tuple[float, float]:
        """The (width, height) a ``width`` × ``height`` photo has after the resize."""
        if self.resize is None:
            return float(width), float(height)
        kind, target = self.resize
        if kind == "shortest_edge":
            scale = target / min(width, height)
            return width * scale, height * scale
        return float(target[1]), float(target[0])

    def view_box(self, size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The (left, top, right, bottom) region of a ``size`` (width, height) photo that the model sees."""
        width, height = size
        resized_w, resized_h = self.resized(width, height)
        left, top, right, bottom = 0.0, 0.0, resized_w, resized_h
        if self.crop:
            crop_w, crop_h = min(self.crop[1], resized_w), min(self.crop[0], resized_h)
            left, top = (resized_w - crop_w) / 2, (resized_h - crop_h) / 2
            right, bottom = left + crop_w, top + crop_h
        scale_x, scale_y = width / resized_w, height / resized_h
        return left * scale_x, top * scale_y, right * scale_x, bottom * scale_y


def geometry(processor: Any) -> Geometry | None:
    """The resize and centre crop of ``processor`` (transformers' or a :class:`ProcessorConfig`).

    ``None`` when they are not a plain shortest-edge or fixed-size resize and an optional centre crop.
    """
    resize = None
    if getattr(processor, "do_resize", False):
        size = size_entries(getattr(processor, "size", None))
        if size.keys() == {"shortest_edge"}:
            resize = ("shortest_edge", size["shortest_edge"])
        elif size.keys() == {"height", "width"}:
            resize = ("fixed", (size["height"], size["width"]))
        else:
            return None
    crop = None
    if getattr(processor, "do_center_crop", False):
        box = size_entries(getattr(processor, "crop_size", None))
        if not {"height", "width"} <= box.keys():
            return None
        crop = (box["height"], box["width"])
    return Geometry(resize, crop)


# ---------------------------------------------------------------- reading the files


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


def _required_file(source: str, filename: str, token: str | None) -> Path:
    """``model_file`` that raises ``ModelLoadError``: :class:`NotAModelError` when the file is absent, the Hub's reason otherwise."""
    try:
        path = model_file(source, filename, token)
    except Exception as error:
        if hub_error := describe_hub_error(error, source, action="load", token=token):
            raise ModelLoadError(str(hub_error)) from error
        raise ModelLoadError(f"could not read {filename} of {source!r}: {error}") from error
    if path is None:
        raise not_a_model(repr(source) if filename == PROCESSOR_FILE else source, filename)
    return path


def _read_json(path: Path, source: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{path.name} of {source!r} is not valid JSON: {error}") from error


def check_labels(id2label: dict, source: str) -> list[str]:
    """The label names in id order, or ``ModelLoadError`` unless they are exactly clean/messy."""
    labels = {int(i): str(name).lower() for i, name in (id2label or {}).items()}
    if labels != ID2LABEL:
        raise ModelLoadError(f"{source} is not a clean/messy model: its labels are {labels}, expected {ID2LABEL}")
    return [labels[i] for i in range(len(labels))]


def read_labels(source: str, token: str | None = None) -> list[str]:
    """The model's labels read from its ``config.json``, checked to be clean/messy."""
    path = _required_file(source, CONFIG_FILE, token)
    return check_labels(_read_json(path, source).get("id2label"), source)


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
            try:
                from transformers import AutoImageProcessor
            except ImportError:
                raise PyTorchMissingError("this image processor (not a plain resize/crop/normalise)") from None
            self._loaded = AutoImageProcessor.from_pretrained(self.directory)
        return self._loaded


def read_image_processor(source: str, token: str | None = None):
    """The model's image processor: a :class:`ProcessorConfig` when it is a plain one, else transformers' own."""
    path = _required_file(source, PROCESSOR_FILE, token)
    values = _read_json(path, source)
    if ProcessorConfig.is_plain(values):
        return ProcessorConfig(values, path.parent)
    return load_transformers_processor(source, token)


def load_transformers_processor(source: str, token: str | None = None):
    """``AutoImageProcessor.from_pretrained(source)``, raising ``ModelLoadError`` with a clear reason."""
    try:
        from transformers import AutoImageProcessor
    except ImportError:
        raise PyTorchMissingError(f"the image processor of {source}") from None

    try:
        return AutoImageProcessor.from_pretrained(source, token=token)
    except (OSError, ValueError) as error:
        if not Path(source).exists() and (hub_error := describe_hub_error(error, source, action="load", token=token)):
            raise ModelLoadError(str(hub_error)) from error
        raise not_a_model(repr(source), PROCESSOR_FILE) from error


def load_model(source: str, token: str | None = None, threads: int | None = None):
    """The PyTorch classifier (transformers ``from_pretrained``), labels checked; sets torch's thread count."""
    try:
        import torch
        from transformers import AutoModelForImageClassification
    except ImportError:
        raise PyTorchMissingError(f"the PyTorch model of {source}") from None

    local = Path(source)
    if local.exists() and not (local / CONFIG_FILE).is_file():
        raise not_a_model(source, CONFIG_FILE)
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
