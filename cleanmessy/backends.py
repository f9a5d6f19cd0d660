"""Inference backends: each maps preprocessed pixels (N, 3, H, W) to class probabilities (N, 2)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch


class Backend(Protocol):
    """What the predictor needs from an inference engine."""

    name: str

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, num_labels), rows summing to 1."""


class EagerBackend:
    """Plain PyTorch forward pass through the transformers model."""

    name = "eager"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()

    def probabilities(self, pixel_values: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(pixel_values=torch.from_numpy(pixel_values)).logits
        return torch.softmax(logits.float(), dim=-1).numpy()
