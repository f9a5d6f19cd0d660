"""The explanation heatmap: its contract, and that it points at the clutter that makes a photo messy.

Every contract test runs for both methods (``occlusion``, the default, and ``gradient``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cleanmessy.explain import METHODS, Explanation, explain, overlay_heatmap, uses_pytorch, view_box
from cleanmessy.labels import ID2LABEL, LABEL2ID
from cleanmessy.predictor import Predictor
from tests.helpers import fit_full_batch, tiny_config, tiny_image_processor

SIDES = (None, "left", None, "right")
"""Scene kinds by ``seed % 4``: half the scenes are calm, the others have clutter in one half."""


def scene(side: str | None, seed: int) -> Image.Image:
    """A 36×36 calm wall; with ``side`` set, high-contrast clutter only in that half."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (36, 36), tuple(int(c) for c in rng.integers(150, 200, 3)))
    draw = ImageDraw.Draw(image)
    if side:
        x0 = 2 if side == "left" else 19
        for _ in range(12):
            x, y = x0 + int(rng.integers(0, 12)), int(rng.integers(2, 31))
            size = rng.integers(1, 4, 2)
            draw.rectangle([x, y, x + int(size[0]), y + int(size[1])], fill=tuple(int(c) for c in rng.choice([0, 255], 3)))
    return image


def tiny_vit():
    """A tiny ViT classifier (reads only the CLS token) with a stretching 32×32 processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        patch_size=8, image_size=32, num_labels=2, id2label=dict(ID2LABEL), label2id=dict(LABEL2ID),
    )
    return ViTForImageClassification(config), ViTImageProcessorPil(size={"height": 32, "width": 32})


def tiny_dinov2():
    """The project's architecture at toy size, with a resize + centre-crop processor."""
    from transformers import Dinov2ForImageClassification

    return Dinov2ForImageClassification(tiny_config()), tiny_image_processor()


def train_clutter_spotter(build) -> Predictor:
    """Train a tiny model for 60 full-batch steps on 128 scenes (~1 s) to call scenes with clutter "messy"."""
    torch.manual_seed(0)
    model, processor = build()
    predictor = Predictor(model, processor, source="test", unsure_below=0.65)
    images = [scene(SIDES[i % 4], i) for i in range(128)]
    labels = torch.tensor([LABEL2ID["clean" if SIDES[i % 4] is None else "messy"] for i in range(128)])
    pixels = torch.from_numpy(predictor.preprocess(images))
    fit_full_batch(model, pixels, labels, steps=60)
    return predictor


@pytest.fixture(scope="module", params=[tiny_dinov2, tiny_vit], ids=["dinov2", "vit"])
def spotter(request) -> Predictor:
    return train_clutter_spotter(request.param)


@pytest.fixture(scope="module")
def random_predictor(tiny_model_dir) -> Predictor:
    return Predictor.load(tiny_model_dir, threads=1)


@pytest.fixture(params=list(METHODS))
def method(request) -> str:
    return request.param


def test_contract_shape_range_and_overlay(random_predictor, room_image, method):
    photo = room_image(messy=True, size=(120, 80), seed=3)
    result = explain(random_predictor, photo, method)
    assert isinstance(result, Explanation)
    assert result.heatmap.dtype == np.float32
    assert result.heatmap.shape == (80, 120)
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.heatmap.max() > 0.0
    assert result.overlay.size == photo.size and result.overlay.mode == "RGB"
    assert "messy − clean" in result.method and result.method == METHODS[method]


def test_verdict_matches_predict(random_predictor, room_image, method):
    photo = room_image(messy=False, size=(100, 100), seed=1)
    explained, predicted = explain(random_predictor, photo, method).verdict, random_predictor.predict(photo)
    assert explained.label == predicted.label
    assert explained.confidence == pytest.approx(predicted.confidence, abs=1e-5)
    assert explained.unsure == predicted.unsure


def test_deterministic(random_predictor, room_image, method):
    photo = room_image(messy=True, seed=7)
    first, second = explain(random_predictor, photo, method), explain(random_predictor, photo, method)
    np.testing.assert_array_equal(first.heatmap, second.heatmap)
    assert first.overlay.tobytes() == second.overlay.tobytes()


def test_margins_outside_the_centre_crop_are_zero(random_predictor, room_image, method):
    # The tiny processor resizes the short side to 36 and crops 32: a 2:1 photo loses its left and right quarters.
    photo = room_image(messy=True, size=(160, 80), seed=2)
    left, top, right, bottom = view_box(random_predictor.preprocess.image_processor, photo.size)
    assert (round(left), round(top), round(right), round(bottom)) == (44, 4, 116, 76)
    heatmap = explain(random_predictor, photo, method).heatmap
    assert not heatmap[:, :44].any() and not heatmap[:, 116:].any()
    assert heatmap[4:76, 44:116].max() > 0


def test_stretching_processor_sees_the_whole_photo():
    _, processor = tiny_vit()
    assert view_box(processor, (160, 80)) == (0.0, 0.0, 160.0, 80.0)


def test_heat_follows_the_clutter(spotter, method):
    """On a model trained to spot clutter, the map lights up the cluttered half, not the calm one.

    Falsifiable: a zero baseline (plain input × gradient) gives the cluttered half
    a mean share of 0.40 on the Dinov2 toy and 0.61 on the ViT toy; flipping the
    sign of the target (either method) sends it below 0.5.
    """
    held_out = range(1000, 1064)
    correct = sum(explain(spotter, scene(SIDES[s % 4], s), method).verdict.label == ("clean" if SIDES[s % 4] is None else "messy") for s in held_out)
    assert correct >= 0.9 * len(held_out), f"the toy model failed to learn: {correct}/{len(held_out)}"
    shares = []
    for seed in (s for s in held_out if SIDES[s % 4] is not None):
        heat = explain(spotter, scene(SIDES[seed % 4], seed), method).heatmap
        left, right = float(heat[:, :18].sum()), float(heat[:, 18:].sum())
        shares.append((left if SIDES[seed % 4] == "left" else right) / max(left + right, 1e-9))
    shares = np.array(shares)
    assert shares.mean() >= 0.75, shares.round(2)
    assert (shares > 0.5).mean() >= 0.9, shares.round(2)


def test_overlay_colours_only_where_there_is_heat():
    photo = Image.new("RGB", (40, 20), (0, 0, 255))
    heatmap = np.zeros((20, 40), dtype=np.float32)
    heatmap[:, 20:] = 1.0
    overlay = np.asarray(overlay_heatmap(photo, heatmap))
    assert (overlay[:, :20] == (0, 0, 255)).all()
    assert (overlay[:, 20:, 0] > 150).all() and (overlay[:, 20:, 2] < 150).all()


def test_method_comes_from_the_setting(random_predictor, room_image, monkeypatch):
    photo = room_image(messy=True, seed=4)
    assert explain(random_predictor, photo).method == METHODS["occlusion"] and not uses_pytorch()
    monkeypatch.setenv("EXPLAIN_METHOD", "gradient")
    assert explain(random_predictor, photo).method == METHODS["gradient"] and uses_pytorch()
    monkeypatch.setenv("EXPLAIN_METHOD", "saliency")
    with pytest.raises(ValueError, match="unknown explanation method 'saliency': expected one of occlusion, gradient"):
        explain(random_predictor, photo)
