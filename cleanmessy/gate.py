"""The "not a room" gate: is this photo a room at all, decided from the embedding the classifier already computed.

A model directory built by ``python -m training`` carries the gate in two places:

- ``not_a_room.json``: a logistic head on the L2-normalised CLS embedding (the first
  ``hidden_size`` numbers of the classifier's input), readable without torch, for the
  PyTorch path; and
- ``config.json``'s ``not_a_room_threshold``: the photo is "not a room" when the gate's
  probability is at or above it.

The ONNX exports compute the same probability inside the graph, as a second output
``not_a_room`` (N,), so onnxruntime and browsers get it in the same forward pass.
A model without ``not_a_room.json`` simply has no gate: every photo counts as a room.

>>> gate = NotARoomGate(weights=[1.0, 0.0], bias=-0.5, threshold=0.5)
>>> gate.probability(np.array([[3.0, 0.0], [0.0, 2.0]])).round(3).tolist()
[0.622, 0.378]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cleanmessy.errors import ModelLoadError

GATE_FILE = "not_a_room.json"
THRESHOLD_KEY = "not_a_room_threshold"
"""The ``config.json`` key holding the threshold (the served one; web and ONNX users read it there)."""
FORMAT = 1


def l2_normalised(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32; an all-zero row stays zero)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function in float32, stable for large magnitudes."""
    return (0.5 * (1 + np.tanh(0.5 * np.asarray(values, dtype=np.float32)))).astype(np.float32)


@dataclass(frozen=True)
class NotARoomGate:
    """``P(not a room) = sigmoid(w · cls/‖cls‖ + b)``, flagged at ``threshold``.

    ``weights`` has one number per CLS dimension; ``info`` keeps how the gate was built and
    measured (written to the JSON file, never used for a decision).
    """

    weights: Sequence[float]
    bias: float
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def dims(self) -> int:
        """Length of the CLS embedding the gate reads."""
        return len(self.weights)

    def cls_embedding(self, classifier_input: np.ndarray) -> np.ndarray:
        """The CLS part of the classifier's input (Dinov2 feeds ``[CLS, mean patch]``, ViT ``CLS`` alone)."""
        return np.asarray(classifier_input, dtype=np.float32)[:, : self.dims]

    def probability(self, classifier_input: np.ndarray) -> np.ndarray:
        """``P(not a room)`` per row of the classifier's input, shape (N,)."""
        weights = np.asarray(self.weights, dtype=np.float32)
        return sigmoid(l2_normalised(self.cls_embedding(classifier_input)) @ weights + np.float32(self.bias))

    def flags(self, probabilities: np.ndarray) -> np.ndarray:
        """Which probabilities mean "not a room" (at or above the threshold)."""
        return np.asarray(probabilities) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        """The ``not_a_room.json`` content (the threshold too, for readers of this file alone)."""
        return {
            "format": FORMAT,
            "method": "logistic head on the L2-normalised CLS embedding",
            "output": "P(not a room) = sigmoid(weights . cls / |cls| + bias)",
            "threshold": float(self.threshold),
            "bias": float(self.bias),
            "weights": [float(w) for w in self.weights],
            "info": self.info,
        }

    def save(self, model_dir: str | Path) -> Path:
        """Write ``not_a_room.json`` and ``config.json``'s ``not_a_room_threshold`` into ``model_dir``."""
        model_dir = Path(model_dir)
        path = model_dir / GATE_FILE
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        config_path = model_dir / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config[THRESHOLD_KEY] = float(self.threshold)
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, values: dict[str, Any], threshold: float | None = None) -> "NotARoomGate":
        """Build from ``not_a_room.json`` content; ``threshold`` (from ``config.json``) wins over the file's copy."""
        try:
            if int(values.get("format", 0)) != FORMAT:
                raise ValueError(f"unsupported format {values.get('format')!r} (expected {FORMAT})")
            weights = [float(w) for w in values["weights"]]
            chosen = float(values["threshold"] if threshold is None else threshold)
            return cls(weights=weights, bias=float(values["bias"]), threshold=chosen, info=values.get("info", {}))
        except (KeyError, TypeError, ValueError) as error:
            raise ModelLoadError(f"{GATE_FILE} is not a valid gate: {error}") from error


def load_gate(source: str, token: str | None = None) -> NotARoomGate | None:
    """The gate saved with a model (local directory or Hub repo), or ``None`` if it has none."""
    from cleanmessy.model_files import CONFIG_FILE, model_file

    path = model_file(source, GATE_FILE, token)
    if path is None:
        return None
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        config_path = model_file(source, CONFIG_FILE, token)
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path else {}
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{GATE_FILE} of {source!r} is not valid JSON: {error}") from error
    return NotARoomGate.from_json(values, config.get(THRESHOLD_KEY))
