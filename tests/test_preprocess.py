"""The one preprocessing function: equal to the saved image processor, and faster decode for big JPEGs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cleanmessy.images import load_image
from cleanmessy.predictor import Predictor
from cleanmessy.preprocess import Preprocessor
from tests.helpers import make_room_image, tiny_image_processor


def _dinov2_processor():
    """The packaged base's processor: shortest edge 256, centre crop 224, ImageNet stats, bicubic."""
    from transformers import BitImageProcessorPil

    return BitImageProcessorPil(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224},
                                image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])


def _vit_processor():
    """The ViT tutorial's processor: fixed 224×224 resize, no crop, mean/std 0.5."""
    from transformers import ViTImageProcessorPil

    return ViTImageProcessorPil(size={"height": 224, "width": 224})


def _whole_photo_processor():
    """What training saves for the packaged base: the whole photo resized to 154 × 154, bicubic, no crop."""
    from training.resolution import processor_at

    return processor_at(_dinov2_processor(), 154)


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("make_processor", [_dinov2_processor, _vit_processor, tiny_image_processor,
                                            _whole_photo_processor])
@pytest.mark.parametrize("size", [(299, 299), (640, 480), (333, 500), (257, 1000), (1000, 257)])
def test_fast_path_equals_the_image_processor(make_processor, size: tuple[int, int]) -> None:
    processor = make_processor()
    preprocess = Preprocessor(processor, reducing_gap=None)
    assert preprocess.size_hint is not None  # the fast path is used for this processor
    images = [make_room_image(messy=True, size=size, seed=3), make_room_image(size=size, seed=4)]
    expected = processor(images=images, return_tensors="np")["pixel_values"]
    actual = preprocess(images)
    assert actual.dtype == np.float32 and actual.flags.c_contiguous
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_reducing_gap_changes_nothing_below_three_times_the_target() -> None:
    processor = _dinov2_processor()
    image = make_room_image(messy=True, size=(700, 760), seed=1)
    np.testing.assert_array_equal(Preprocessor(processor)([image]), Preprocessor(processor, reducing_gap=None)([image]))


def test_reducing_gap_on_huge_photos_stays_close() -> None:
    processor = _dinov2_processor()
    image = make_room_image(messy=True, size=(400, 300), seed=2).resize((4000, 3000), Image.Resampling.BICUBIC)
    fast = Preprocessor(processor)([image])
    exact = processor(images=[image], return_tensors="np")["pixel_values"]
    assert np.abs(fast - exact).mean() < 0.01


def test_unusual_processor_falls_back_to_transformers() -> None:
    from transformers import BitImageProcessorPil

    processor = BitImageProcessorPil(size={"shortest_edge": 40, "longest_edge": 64}, do_center_crop=False)
    preprocess = Preprocessor(processor)
    assert preprocess.size_hint is None
    image = make_room_image(size=(96, 80))
    np.testing.assert_array_equal(preprocess([image]), processor(images=[image], return_tensors="np")["pixel_values"])


def test_size_hint_decodes_big_jpegs_smaller_but_never_below_the_hint() -> None:
    data = _jpeg(make_room_image(messy=True, size=(400, 300)).resize((4000, 3000)))
    full = load_image(data)
    drafted = load_image(data, size_hint=256)
    assert full.size == (4000, 3000)
    assert drafted.size == (500, 375) and drafted.mode == "RGB"
    assert min(load_image(data, size_hint=1000).size) >= 1000
    png = io.BytesIO()
    full.save(png, format="PNG")
    assert load_image(png.getvalue(), size_hint=256).size == (4000, 3000)  # only JPEG has a draft mode


def test_size_hint_keeps_exif_rotation_and_grey_jpegs() -> None:
    image = make_room_image(size=(400, 200)).resize((2000, 1000))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rotated = load_image(_jpeg(image, exif=exif), size_hint=256)
    assert rotated.size[0] < rotated.size[1] and min(rotated.size) >= 256
    grey = load_image(_jpeg(image.convert("L")), size_hint=256)
    assert grey.mode == "RGB" and min(grey.size) >= 256


def test_predictor_uses_the_hint_and_keeps_its_verdict(tiny_model_dir) -> None:
    predictor = Predictor.load(tiny_model_dir, backend="eager", threads=1)
    assert predictor.preprocess.size_hint == 36
    data = _jpeg(make_room_image(messy=True, size=(400, 300)).resize((1600, 1200)))
    hinted = predictor.predict(data)
    plain = predictor.predict_batch([load_image(data)])[0]
    assert hinted.label == plain.label
    assert abs(hinted.confidence - plain.confidence) < 0.02
