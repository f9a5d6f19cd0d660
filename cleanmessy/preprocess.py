"""Turn RGB images into the model's input tensor. One function feeds every backend."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image


class Preprocessor:
    """Applies the image processor saved beside the model (resize, crop, normalise) and returns NCHW float32."""

    def __init__(self, image_processor) -> None:
        self.image_processor = image_processor

    def __call__(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Preprocess a batch of RGB images into a ``float32`` array of shape (N, 3, H, W)."""
        batch = self.image_processor(images=list(images), return_tensors="np")
        return np.ascontiguousarray(batch["pixel_values"], dtype=np.float32)
