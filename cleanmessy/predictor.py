"""Load a clean/messy model from a Hub id or a local directory and classify photos.

>>> from cleanmessy import Predictor
>>> predictor = Predictor.load("models/clean-or-messy")     # doctest: +SKIP
>>> predictor.predict("room.jpg").headline                   # doctest: +SKIP
'Messy, 87% sure'
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from cleanmessy import settings
from cleanmessy.backends import Backend, EagerBackend, select_onnx_backend
from cleanmessy.gate import NotARoomGate, load_gate
from cleanmessy.images import ImageSource, load_image
from cleanmessy.model_files import load_model, read_image_processor, read_labels
from cleanmessy.model_source import ServedModel, resolve_model
from cleanmessy.preprocess import Preprocessor
from cleanmessy.verdict import Verdict

logger = logging.getLogger(__name__)


class Predictor:
    """Classifies room photos as clean or messy with one loaded model.

    ``model`` is the transformers classifier; it may be ``None`` when ``model_loader``
    can load it on first use of :attr:`model` (the gradient heatmap, the eager backend). That is
    how :meth:`load` serves an ONNX model without importing torch at all.

    ``gate`` is the model's "not a room" gate (``not_a_room.json``); without one every photo
    counts as a room. An ONNX backend computes the gate's probability inside its graph, the
    eager backend from the classifier's input; either way ``gate.threshold`` decides.
    """

    def __init__(
        self,
        model=None,
        image_processor=None,
        *,
        source: str,
        backend: Backend | None = None,
        labels: Sequence[str] | None = None,
        model_loader: Callable[[], object] | None = None,
        unsure_below: float | None = None,
        gate: NotARoomGate | None = None,
        served: ServedModel | None = None,
    ) -> None:
        if model is None and model_loader is None:
            raise ValueError("Predictor needs a model or a model_loader")
        if labels is None and model is None:
            raise ValueError("Predictor needs labels when the model is loaded lazily")
        self._model = model.eval() if model is not None else None
        self._model_loader = model_loader
        self._model_lock = threading.Lock()
        self.preprocess = Preprocessor(image_processor)
        self.source = source
        self.served = served or ServedModel(source, source)
        self.labels = list(labels) if labels is not None else [
            model.config.id2label[i] for i in range(model.config.num_labels)
        ]
        self.gate = gate
        self.backend = backend or EagerBackend(self.model, gate)
        self.unsure_below = settings.unsure_threshold() if unsure_below is None else unsure_below

    @property
    def model(self):
        """The PyTorch (transformers) classifier, loaded on first use when the predictor was built without it."""
        with self._model_lock:
            if self._model is None:
                self._model = self._model_loader().eval()
                logger.info("loaded the PyTorch model of %s", self.source)
            return self._model

    @classmethod
    def load(
        cls,
        model_id: str | Path | None = None,
        *,
        token: str | None = None,
        threads: int | None = None,
        unsure_below: float | None = None,
        backend: str | None = None,
        preload_model: bool = False,
        revision: str | None = None,
    ) -> "Predictor":
        """Load from a Hub repo id or a local directory (default: ``$MODEL_ID``).

        ``revision`` pins a Hub model to a tag, branch or commit (the apps pass ``$MODEL_REVISION``);
        :attr:`served` says which commit is served (see :mod:`cleanmessy.model_source`).

        ``backend`` (default ``$PREDICTOR_BACKEND``, else ``"auto"``) picks the inference engine:
        ``"auto"`` runs ``onnx/model_quantized.onnx`` (int8, onnxruntime) when the model has one and
        PyTorch otherwise; ``"eager"`` always PyTorch; ``"onnx"`` int8 if present, else
        ``onnx/model.onnx``; ``"onnx-int8"`` / ``"onnx-fp32"`` exactly that file. With an ONNX
        backend neither torch nor transformers is imported until ``.model`` is first used
        (the gradient heatmap needs it; the default occlusion heatmap does not), unless
        ``preload_model`` loads it now.
        """
        token = token or settings.hf_token()
        served = resolve_model(str(model_id or settings.model_id()), revision, token)
        source = served.path
        labels = read_labels(source, token)
        processor = read_image_processor(source, token)
        chosen = select_onnx_backend(source, backend or settings.predictor_backend(),
                                     threads=threads or settings.ort_threads(), token=token)
        loader = functools.partial(load_model, source, token, threads or settings.threads())
        gate = load_gate(source, token)
        if gate is not None and chosen is not None and not chosen.has_gate:
            logger.warning("%s has %s but its ONNX graph has no not_a_room output: re-export it "
                           "(python -m training.export) to get the gate", source, chosen.path.name)
        predictor = cls(None, processor, source=source, backend=chosen, labels=labels,
                        model_loader=loader, unsure_below=unsure_below, gate=gate, served=served)
        if preload_model:
            predictor.model  # noqa: B018  (the property loads and keeps it)
        logger.info("loaded model %s (backend %s)", served.describe(), predictor.backend.name)
        return predictor

    def verdict_from_probabilities(self, probabilities: np.ndarray, not_a_room: float | None = None) -> Verdict:
        """Build a ``Verdict`` from one row of class probabilities and the gate's probability (if any)."""
        best = int(np.argmax(probabilities))
        confidence = float(probabilities[best])
        return Verdict(
            label=self.labels[best],
            confidence=confidence,
            scores={name: float(p) for name, p in zip(self.labels, probabilities)},
            unsure=confidence < self.unsure_below,
            not_a_room=bool(self.gate is not None and not_a_room is not None and not_a_room >= self.gate.threshold),
        )

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Class probabilities (N, 2) for already loaded RGB images."""
        return self.backend.probabilities(self.preprocess(images))

    def verdicts(self, images: Sequence[Image.Image]) -> list[Verdict]:
        """Verdicts (leaning and "not a room") for already loaded RGB images, in one forward pass."""
        outputs = self.backend.outputs(self.preprocess(images))
        gate = outputs.not_a_room if outputs.not_a_room is not None else [None] * len(outputs.probabilities)
        return [self.verdict_from_probabilities(row, None if score is None else float(score))
                for row, score in zip(outputs.probabilities, gate)]

    def predict(self, image: ImageSource) -> Verdict:
        """Classify one photo given as bytes, a path, a file object or a PIL image."""
        return self.predict_batch([image])[0]

    def decode(self, source: ImageSource, *, max_bytes: int | None = None) -> Image.Image:
        """One photo through the core's image checks, decoded no larger than this model needs (JPEG draft).

        A decoded ``PIL.Image`` is only checked, not decoded again. Raises ``ImageError``.
        """
        return load_image(source, max_bytes=max_bytes, size_hint=self.preprocess.size_hint)

    def predict_batch(self, images: Sequence[ImageSource]) -> list[Verdict]:
        """Classify several photos in one forward pass. Raises ``ImageError`` on the first bad one.

        To get a verdict or an error per photo instead, use :func:`cleanmessy.intake.classify_photos`.
        """
        if not images:
            return []
        loaded = [self.decode(image) for image in images]
        return self.verdicts(loaded)
