"""Load a clean/messy model from a Hub id or a local directory and classify photos.

>>> from cleanmessy import Predictor
>>> predictor = Predictor.load("models/clean-or-messy")     # doctest: +SKIP
>>> predictor.predict("room.jpg").headline                   # doctest: +SKIP
'Messy, 87% sure'
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from cleanmessy import settings
from cleanmessy.backends import Backend, EagerBackend, select_backend
from cleanmessy.errors import ModelLoadError
from cleanmessy.hub import describe as describe_hub_error
from cleanmessy.images import ImageSource, load_image
from cleanmessy.labels import ID2LABEL
from cleanmessy.preprocess import Preprocessor
from cleanmessy.verdict import Verdict

logger = logging.getLogger(__name__)


def _check_labels(config, source: str) -> None:
    id2label = {int(i): str(name).lower() for i, name in config.id2label.items()}
    if id2label != ID2LABEL:
        raise ModelLoadError(
            f"{source} is not a clean/messy model: its labels are {id2label}, expected {ID2LABEL}"
        )


def load_model_and_processor(source: str, token: str | None = None):
    """Load ``(model, image_processor)`` with stock transformers, raising ``ModelLoadError`` with a clear reason."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    local = Path(source)
    if local.exists() and not (local / "config.json").is_file():
        raise ModelLoadError(f"{source} has no config.json: it is not a saved model directory")
    try:
        model = AutoModelForImageClassification.from_pretrained(source, token=token)
    except OSError as error:
        if not local.exists() and (hub_error := describe_hub_error(error, source, action="load", token=token)):
            raise ModelLoadError(str(hub_error)) from error
        where = "directory" if local.exists() else "Hub repo"
        raise ModelLoadError(f"could not load the model from {where} {source!r}: {error}") from error
    _check_labels(model.config, source)
    try:
        processor = AutoImageProcessor.from_pretrained(source, token=token)
    except (OSError, ValueError) as error:
        if not local.exists() and (hub_error := describe_hub_error(error, source, action="load", token=token)):
            raise ModelLoadError(str(hub_error)) from error
        raise ModelLoadError(
            f"{source!r} has no image processor (preprocessor_config.json): "
            "save it beside the weights, as `python -m training` does"
        ) from error
    return model, processor


class Predictor:
    """Classifies room photos as clean or messy with one loaded model."""

    def __init__(
        self,
        model: torch.nn.Module,
        image_processor,
        *,
        source: str,
        backend: Backend | None = None,
        unsure_below: float | None = None,
    ) -> None:
        self.model = model.eval()
        self.preprocess = Preprocessor(image_processor)
        self.source = source
        self.backend = backend or EagerBackend(self.model)
        self.unsure_below = settings.unsure_threshold() if unsure_below is None else unsure_below
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    @classmethod
    def load(
        cls,
        model_id: str | Path | None = None,
        *,
        token: str | None = None,
        threads: int | None = None,
        unsure_below: float | None = None,
        backend: str | None = None,
    ) -> "Predictor":
        """Load from a Hub repo id or a local directory (default: ``$MODEL_ID``).

        ``backend`` (default ``$PREDICTOR_BACKEND``, else ``"auto"``) picks the inference engine:
        ``"auto"`` runs ``onnx/model_quantized.onnx`` (int8, onnxruntime) when the model has one and
        PyTorch otherwise; ``"eager"`` always PyTorch; ``"onnx"`` int8 if present, else
        ``onnx/model.onnx``; ``"onnx-int8"`` / ``"onnx-fp32"`` exactly that file. The PyTorch model
        stays loaded as ``.model`` either way (explanations need its gradients).
        """
        source = str(model_id or settings.model_id())
        token = token or settings.hf_token()
        torch.set_num_threads(threads or settings.threads())
        model, processor = load_model_and_processor(source, token)
        chosen = select_backend(source, model, backend or settings.predictor_backend(),
                                threads=threads or settings.ort_threads(), token=token)
        logger.info("loaded model %s (backend %s)", source, chosen.name)
        return cls(model, processor, source=source, backend=chosen, unsure_below=unsure_below)

    def verdict_from_probabilities(self, probabilities: np.ndarray) -> Verdict:
        """Build a ``Verdict`` from one row of class probabilities."""
        best = int(np.argmax(probabilities))
        confidence = float(probabilities[best])
        return Verdict(
            label=self.labels[best],
            confidence=confidence,
            scores={name: float(p) for name, p in zip(self.labels, probabilities)},
            unsure=confidence < self.unsure_below,
        )

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Class probabilities (N, 2) for already loaded RGB images."""
        return self.backend.probabilities(self.preprocess(images))

    def predict(self, image: ImageSource) -> Verdict:
        """Classify one photo given as bytes, a path, a file object or a PIL image."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images: Sequence[ImageSource]) -> list[Verdict]:
        """Classify several photos in one forward pass. Raises ``ImageError`` on the first bad one."""
        if not images:
            return []
        loaded = [load_image(image, size_hint=self.preprocess.size_hint) for image in images]
        return [self.verdict_from_probabilities(row) for row in self.probabilities(loaded)]
