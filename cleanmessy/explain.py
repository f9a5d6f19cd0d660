"""Why did the model say "messy"? A heatmap of the regions that push the verdict toward messy.

Method: gradient × (activation − mean activation) on the patch tokens that
enter the model's last transformer block, for the target
``logit(messy) - logit(clean)``. For patch token ``h_t`` with gradient ``g_t``
the relevance is ``g_t · (h_t - mean_s h_s)``: the first-order change in the
messy-vs-clean margin if that patch looked like an average patch of the same
photo. Positive relevance means the patch pushes toward "messy". We keep the
positive part and divide by the 95th percentile of the positive relevances
(clipping at 1): on the fine-tuned model a handful of patches reach several
times the typical value, and dividing by the maximum left the rest of the map
invisible (mean heat 0.03 on messy validation photos).

Why this method: it is class-directional (it follows the messy-minus-clean
margin; attention rollout is not), it works for every transformers ViT-family
classifier (ViT reads only the CLS token, Dinov2 the CLS token and the patch
mean; both receive the patches through the last block), and it costs one forward
pass plus a backward pass through the last block only. The mean baseline matters:
with a zero baseline (plain HiResCAM / input×gradient) the component every patch
shares dominates, and on a small model trained to spot clutter the map pointed
at the *calm* half of the photo. tests/test_explain.py checks that the map
follows the clutter.

>>> from cleanmessy import Predictor, load_image
>>> from cleanmessy.explain import explain
>>> predictor = Predictor.load("models/clean-or-messy")                # doctest: +SKIP
>>> result = explain(predictor, load_image("room.jpg"))                 # doctest: +SKIP
>>> result.verdict.headline, result.heatmap.shape, result.overlay.size  # doctest: +SKIP
('Messy, 87% sure', (3024, 4032), (4032, 3024))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from cleanmessy.backends import classifier_inputs
from cleanmessy.images import load_image
from cleanmessy.labels import LABEL2ID
from cleanmessy.model_files import geometry
from cleanmessy.verdict import Verdict

METHOD = "gradient × (activation − mean) on the last block's patch tokens, messy − clean logit"

SATURATION_PERCENTILE = 95.0
"""Positive relevances at or above this percentile of them show at full heat."""

OVERLAY_OPACITY = 0.6
"""Opacity of the heat colour where the heatmap is 1; the photo shows through elsewhere."""


@dataclass(frozen=True)
class Explanation:
    """A verdict plus where it came from.

    ``heatmap`` is float32 in [0, 1] with the photo's shape (height, width); 1 marks
    the patches that push hardest toward "messy" (the top 5% of those that push at
    all), 0 marks no push (or a region the model does not see, such as the margins
    its centre crop cuts off).
    ``overlay`` is the heatmap blended over the photo, at the photo's size.
    """

    heatmap: np.ndarray
    overlay: Image.Image
    verdict: Verdict
    method: str


def explain(predictor, image: Image.Image) -> Explanation:
    """Classify ``image`` with ``predictor``'s model and show which regions push it toward "messy".

    Costs one forward pass with gradient recording and a backward pass through the
    last block (about 1.5× one prediction; see BENCHMARKS.md). Thread-safe: it does
    not modify the model.
    """
    image = load_image(image)
    model = predictor.model
    pixels = torch.from_numpy(predictor.preprocess([image]))
    with torch.enable_grad(), classifier_inputs(model) as embedding:
        outputs = model(pixel_values=pixels, output_hidden_states=True)
        tokens = outputs.hidden_states[-2]  # the input of the last transformer block
        logits = outputs.logits[0]
        margin = logits[LABEL2ID["messy"]] - logits[LABEL2ID["clean"]]
        (gradient,) = torch.autograd.grad(margin, tokens)
    grid = _patch_grid(gradient[0], tokens[0].detach(), pixels.shape[-2:], model.config.patch_size)
    heatmap = _to_photo(grid, image.size, predictor.preprocess.image_processor)
    probabilities = torch.softmax(logits.detach().float(), dim=-1).numpy()
    return Explanation(
        heatmap=heatmap,
        overlay=overlay_heatmap(image, heatmap),
        verdict=predictor.verdict_from_probabilities(probabilities, not_a_room(predictor, embedding)),
        method=METHOD,
    )


def not_a_room(predictor, captured: list) -> float | None:
    """The gate's probability from the classifier input captured in the pass, or ``None`` without a gate."""
    gate = getattr(predictor, "gate", None)
    if gate is None or not captured:
        return None
    return float(gate.probability(captured[0].detach().float().numpy())[0])


def _patch_grid(gradient: torch.Tensor, tokens: torch.Tensor, input_size: torch.Size, patch_size: int) -> np.ndarray:
    """Patch relevances as a (rows, cols) map in [0, 1]: the positive part, saturating at a high percentile.

    Patch tokens are the last ``rows * cols`` of the sequence (after CLS and any
    register tokens). Each token is compared with the mean patch token, not with
    zero: a zero token is far outside what the model ever sees, and the component
    all patches share says nothing about where the mess is.
    """
    rows, cols = input_size[0] // patch_size, input_size[1] // patch_size
    count = rows * cols
    patches = tokens[-count:]
    relevance = (gradient[-count:] * (patches - patches.mean(dim=0, keepdim=True))).sum(dim=-1)
    patches = relevance.reshape(rows, cols).float().numpy()
    positive = patches[patches > 0]
    if positive.size == 0:
        return np.zeros((rows, cols), dtype=np.float32)
    scale = float(np.percentile(positive, SATURATION_PERCENTILE))
    return np.clip(patches / scale, 0.0, 1.0).astype(np.float32)


def view_box(image_processor, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The (left, top, right, bottom) region of a ``size`` (width, height) photo that the model sees.

    Follows the processor's resize (``shortest_edge`` keeps the aspect ratio,
    ``height``/``width`` stretches) and its centre crop; unknown processors map to
    the whole photo.
    """
    shape = geometry(image_processor)
    if shape is None:
        return 0.0, 0.0, float(size[0]), float(size[1])
    return shape.view_box(size)


def _to_photo(grid: np.ndarray, size: tuple[int, int], image_processor) -> np.ndarray:
    """Upsample the patch grid bilinearly onto the region of the photo the model saw; zero elsewhere."""
    width, height = size
    left, top, right, bottom = (round(v) for v in view_box(image_processor, size))
    box_w, box_h = max(1, right - left), max(1, bottom - top)
    patch = Image.fromarray(grid, mode="F").resize((box_w, box_h), Image.Resampling.BILINEAR)
    heatmap = np.zeros((height, width), dtype=np.float32)
    region = np.clip(np.asarray(patch, dtype=np.float32), 0.0, 1.0)
    heatmap[top : top + box_h, left : left + box_w] = region[: height - top, : width - left]
    return heatmap


def _heat_palette() -> list[int]:
    """A 256-entry "hot" palette: dark red for weak evidence, through orange, to yellow for the strongest."""
    ramp = np.linspace(0.0, 1.0, 256)
    red = np.clip(0.55 + 0.45 * ramp * 2, 0, 1)
    green = np.clip((ramp - 0.25) / 0.75, 0, 1) * 0.9
    blue = np.zeros_like(ramp)
    return (np.stack([red, green, blue], axis=1) * 255).astype(np.uint8).flatten().tolist()


def overlay_heatmap(photo: Image.Image, heatmap: np.ndarray, opacity: float = OVERLAY_OPACITY) -> Image.Image:
    """Blend ``heatmap`` (float32 HxW in [0, 1], the photo's shape) over ``photo`` as hot colours."""
    levels = Image.fromarray((np.clip(heatmap, 0.0, 1.0) * 255).astype(np.uint8), mode="L")
    colours = levels.copy()
    colours.putpalette(_heat_palette())
    alpha = levels.point(lambda value: round(value * opacity))
    return Image.composite(colours.convert("RGB"), photo.convert("RGB"), alpha)
