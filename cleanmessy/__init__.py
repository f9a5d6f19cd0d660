"""clean-or-messy core: image intake, labels, the predictor and its verdicts.

The Space (``space/``), the bot (``bot/``) and training all import this package;
nothing here imports them. Where things live:

- ``cleanmessy.intake.classify_photos``: where a photo's bytes become a verdict (or the core's error),
  photos decoded one by one and classified together in shared forward passes;
- ``cleanmessy.settings``: every environment variable, declared once (the only reader of the environment);
- ``cleanmessy.model_files``: the layout of a model folder or Hub repo, and reading it;
- ``cleanmessy.model_source``: which revision of a Hub model is served (``MODEL_REVISION``), from one snapshot;
- ``cleanmessy.feedback``, ``feedback_sync``, ``feedback_card``: 👍/👎 corrections on disk (append-only),
  their background push to a Hub dataset (``FEEDBACK_REPO``), and that dataset's card;
- ``cleanmessy.phash``: the perceptual hash that finds near-duplicate photos (scraper and training);
- ``cleanmessy.predictor``, ``preprocess``, ``backends``: the model and its inputs;
- ``cleanmessy.images``: untrusted image bytes to a checked RGB image;
- ``cleanmessy.cli``: the ``clean-or-messy`` command.

``Predictor`` is imported lazily so that light users (the scraper's image checks) import only
Pillow. The predictor itself imports torch and transformers only when it needs the PyTorch model
(see ``cleanmessy.model_files``).
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
