"""clean-or-messy core: image intake, labels, the predictor and its verdicts.

The Space (``space/``), the bot (``bot/``) and training all import this package;
nothing here imports them. ``Predictor`` is imported lazily so that light users
(the scraper's image checks) import only Pillow. The predictor itself imports torch and
transformers only when it needs the PyTorch model (see ``cleanmessy.model_files``).
"""

from cleanmessy.errors import CleanMessyError, ImageError, ModelLoadError
from cleanmessy.images import load_image
from cleanmessy.labels import ID2LABEL, LABEL2ID, LABELS
from cleanmessy.verdict import Verdict

__all__ = [
    "CleanMessyError",
    "ID2LABEL",
    "ImageError",
    "LABEL2ID",
    "LABELS",
    "ModelLoadError",
    "Predictor",
    "Verdict",
    "load_image",
]


def __getattr__(name: str):
    if name == "Predictor":
        from cleanmessy.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'cleanmessy' has no attribute {name!r}")
