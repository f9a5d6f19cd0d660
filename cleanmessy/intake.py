"""Per-photo intake: many photos in; per photo, a verdict or the core's error out.

This is where a photo's bytes become a verdict. Each photo is decoded and checked on its own
(:meth:`cleanmessy.predictor.Predictor.decode`), so one bad upload is reported without failing
the others; the good ones are then classified together in shared forward passes. The Space, the
bot and the command line all call :func:`classify_photos` (or its two halves).

>>> from cleanmessy.intake import classify_photos
>>> classify_photos(predictor, ["room.jpg", b"not an image"])   # doctest: +SKIP
[Verdict(label='messy', ...), NotAnImageError('this file is not an image ...')]
"""

from __future__ import annotations

from typing import Callable, Sequence, Union

from PIL import Image

from cleanmessy.errors import CleanMessyError, ImageError
from cleanmessy.images import ImageSource
from cleanmessy.verdict import Verdict

Decoded = Union[Image.Image, CleanMessyError]
"""A decoded photo, or the reason it could not be decoded."""

Passes = Callable[[list[Image.Image]], list[Verdict]]
"""Classifies decoded images (one or more forward passes): ``predictor.predict_batch`` or a shared batcher."""


def decode_photos(predictor, sources: Sequence[ImageSource], *, max_bytes: int | None = None) -> list[Decoded]:
    """Each source decoded on its own: an RGB image, or the ``ImageError`` that says what is wrong with it."""
    decoded: list[Decoded] = []
    for source in sources:
        try:
            decoded.append(predictor.decode(source, max_bytes=max_bytes))
        except ImageError as error:
            decoded.append(error)
    return decoded


def classify_decoded(decoded: Sequence[Decoded], passes: Passes) -> list[Verdict | CleanMessyError]:
    """Verdicts for the images among ``decoded``, computed together by ``passes``; errors stay in their place."""
    results: list[Verdict | CleanMessyError] = list(decoded)  # type: ignore[arg-type]
    positions = [i for i, item in enumerate(decoded) if isinstance(item, Image.Image)]
    if positions:
        for position, verdict in zip(positions, passes([decoded[i] for i in positions])):
            results[position] = verdict
    return results


def classify_photos(
    predictor,
    sources: Sequence[ImageSource],
    *,
    max_bytes: int | None = None,
    passes: Passes | None = None,
) -> list[Verdict | CleanMessyError]:
    """Per photo, in order: its ``Verdict``, or the core's error (an ``ImageError``) for a photo that cannot be used.

    ``passes`` runs the forward passes (default ``predictor.predict_batch``: one pass for all good photos).
    """
    decoded = decode_photos(predictor, sources, max_bytes=max_bytes)
    return classify_decoded(decoded, passes or predictor.predict_batch)
