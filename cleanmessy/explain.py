"""Why did the model say "messy"? A heatmap of the regions that push the verdict toward messy.

Two methods give the same :class:`Explanation`; ``EXPLAIN_METHOD`` (see
``cleanmessy.settings``) or the ``method`` argument picks one:

``occlusion`` (the default): hide each region of the model's input in turn (blurred away) and
measure how far the ``logit(messy) - logit(clean)`` margin falls (``cleanmessy/occlusion.py``). It
runs on the served backend, the int8 ONNX model, in a few batched forward passes, so it needs no
PyTorch: the Space installs without torch, and the bot's first "Why?" on a cold instance does not
pay the torch import. It measures directly what the heatmap claims (this region pushes toward
messy). Costlier per call than the gradient (about 9× the CPU time: 37 int8 forwards), cheaper on
a cold start (no torch import or PyTorch weights: about 1 s of CPU against 4 s); on deletion
curves each method wins under its own kind of deletion (BENCHMARKS.md, ``python -m bench.explain_cost``).

``gradient``: gradient × (activation − mean activation) on the patch tokens that enter the
model's last transformer block, for the same margin. For patch token ``h_t`` with gradient
``g_t`` the relevance is ``g_t · (h_t - mean_s h_s)``: the first-order change in the margin if
that patch looked like an average patch of the same photo. One forward pass plus a backward
pass through the last block, finer (one value per patch), but it needs the PyTorch model. The
mean baseline matters: with a zero baseline (plain HiResCAM / input×gradient) the component
every patch shares dominates, and on a small model trained to spot clutter the map pointed at
the *calm* half of the photo.

Both keep the positive part and divide by the 95th percentile of the positive relevances
(clipping at 1): on the fine-tuned model a handful of patches reach several times the typical
value, and dividing by the maximum left the rest of the map invisible. tests/test_explain.py
checks that either map follows the clutter.

>>> from cleanmessy import Predictor, load_image
>>> from cleanmessy.explain import explain
>>> predictor = Predictor.load("models/clean-or-messy")                # doctest: +SKIP
>>> result = explain(predictor, load_image("room.jpg"))                 # doctest: +SKIP
>>> result.verdict.headline, result.heatmap.shape, result.overlay.size  # doctest: +SKIP
('Messy, 87% sure', (3024, 4032), (4032, 3024))
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from cleanmessy import occlusion, settings
from cleanmessy.backends import softmax
from cleanmessy.errors import PyTorchMissingError
from cleanmessy.images import load_image
from cleanmessy.labels import LABEL2ID
from cleanmessy.model_files import geometry
from cleanmessy.verdict import Verdict

METHODS = {
    "occlusion": "occlusion sensitivity of the messy − clean logit (mean-colour windows, served model)",
    "gradient": "gradient × (activation − mean) on the last block's patch tokens, messy − clean logit",
}
"""Each method's name and the one-line description an :class:`Explanation` carries."""

SATURATION_PERCENTILE = 95.0
"""Positive relevances at or above this percentile of them show at full heat."""

OVERLAY_OPACITY = 0.6
"""Opacity of the heat colour where the heatmap is 1; the photo shows through elsewhere."""


@dataclass(frozen=True)
class Explanation:
    """A verdict plus where it came from.

    ``heatmap`` is float32 in [0, 1] with the photo's shape (height, width); 1 marks
    the regions that push hardest toward "messy" (the top 5% of those that push at
    all), 0 marks no push. Models trained here see the whole photo (resized to a
    square), so the map covers all of it; for an older model whose processor
    centre-crops, the margins it cuts off stay 0.
    ``overlay`` is the heatmap blended over the photo, at the photo's size.
    ``method`` is the description from :data:`METHODS`.
    """

    heatmap: np.ndarray
    overlay: Image.Image
    verdict: Verdict
    method: str


def check_method(method: str) -> str:
    """``method`` lower-cased, or ``ValueError`` naming the choices."""
    method = method.strip().lower()
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}: expected one of {', '.join(METHODS)}")
    return method


def uses_pytorch(method: str | None = None) -> bool:
    """Whether ``method`` (default ``$EXPLAIN_METHOD``) needs the PyTorch model (load it up front to serve it)."""
    return check_method(method or settings.explain_method()) == "gradient"


def explain(predictor, image: Image.Image, method: str | None = None) -> Explanation:
    """Classify ``image`` with ``predictor``'s model and show which regions push it toward "messy".

    ``method``: ``"occlusion"`` or ``"gradient"`` (default ``$EXPLAIN_METHOD``, else occlusion).
    Costs: see BENCHMARKS.md. Thread-safe: it does not modify the model.
    """
    image = load_image(image)
    method = check_method(method or settings.explain_method())
    if method == "occlusion":
        pixels = predictor.preprocess([image])
        relevance, logits = occlusion.sensitivity(predictor.backend, pixels)
        grid = _saturated(relevance)
    else:
        grid, logits = _gradient_grid(predictor, image)
    heatmap = _to_photo(grid, image.size, predictor.preprocess.image_processor)
    probabilities = softmax(np.asarray(logits, np.float32)[None])[0]
    return Explanation(
        heatmap=heatmap,
        overlay=overlay_heatmap(image, heatmap),
        verdict=_with_gate(predictor, image, predictor.verdict_from_probabilities(probabilities)),
        method=METHODS[method],
    )


def _with_gate(predictor, image: Image.Image, verdict: Verdict) -> Verdict:
    """``verdict`` with the model's "not a room" answer (one more forward pass, only when the model has a gate)."""
    if getattr(predictor, "gate", None) is None:
        return verdict
    return replace(verdict, not_a_room=predictor.verdicts([image])[0].not_a_room)


def _saturated(relevance: np.ndarray) -> np.ndarray:
    """The positive part of ``relevance`` in [0, 1], saturating at :data:`SATURATION_PERCENTILE` of it."""
    relevance = np.asarray(relevance, np.float32)
    positive = relevance[relevance > 0]
    if positive.size == 0:
        return np.zeros(relevance.shape, dtype=np.float32)
    scale = float(np.percentile(positive, SATURATION_PERCENTILE))
    return np.clip(relevance / scale, 0.0, 1.0).astype(np.float32)


def _gradient_grid(predictor, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The gradient method's patch grid in [0, 1] and the logits row (needs PyTorch)."""
    try:
        import torch
    except ImportError:
        raise PyTorchMissingError("the gradient heatmap (EXPLAIN_METHOD=gradient)") from None
    model = predictor.model
    pixels = torch.from_numpy(predictor.preprocess([image]))
    with torch.enable_grad():
        outputs = model(pixel_values=pixels, output_hidden_states=True)
        tokens = outputs.hidden_states[-2]  # the input of the last transformer block
        logits = outputs.logits[0]
        margin = logits[LABEL2ID["messy"]] - logits[LABEL2ID["clean"]]
        (gradient,) = torch.autograd.grad(margin, tokens)
    grid = _patch_grid(gradient[0], tokens[0].detach(), pixels.shape[-2:], model.config.patch_size)
    return grid, logits.detach().float().numpy()


def _patch_grid(gradient, tokens, input_size, patch_size: int) -> np.ndarray:
    """Patch relevances (torch tensors in) as a (rows, cols) map in [0, 1], via :func:`_saturated`.

    Patch tokens are the last ``rows * cols`` of the sequence (after CLS and any
    register tokens). Each token is compared with the mean patch token, not with
    zero: a zero token is far outside what the model ever sees, and the component
    all patches share says nothing about where the mess is.
    """
    rows, cols = input_size[0] // patch_size, input_size[1] // patch_size
    count = rows * cols
    patches = tokens[-count:]
    relevance = (gradient[-count:] * (patches - patches.mean(dim=0, keepdim=True))).sum(dim=-1)
    return _saturated(relevance.reshape(rows, cols).float().numpy())


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
    """Upsample the patch grid bilinearly onto the region of the photo the model saw; zero elsewhere.

    With a whole-photo processor (fixed ``height``/``width``, no crop) that region is the whole
    photo: the square patch grid is stretched back to the photo's aspect ratio, undoing the squash.
    """
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
