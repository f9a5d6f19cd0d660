"""Typed errors whose messages a user can act on.

Every error raised by the core derives from :class:`CleanMessyError`, so adapters
(the Space, the bot, the CLIs) can catch one type and show ``str(error)`` as-is.
"""

from __future__ import annotations


class CleanMessyError(Exception):
    """Base class for errors whose message is safe and useful to show a user."""


class ImageError(CleanMessyError, ValueError):
    """The input could not be turned into an RGB image."""


class EmptyImageError(ImageError):
    """Zero bytes were given."""


class NotAnImageError(ImageError):
    """The bytes are not an image format we can decode."""


class CorruptImageError(ImageError):
    """The file looks like an image but is truncated or damaged."""


class ImageTooLargeError(ImageError):
    """The file or its pixel count exceeds the configured limit."""


class ImageTooSmallError(ImageError):
    """The image is too small to say anything about."""


class ModelLoadError(CleanMessyError, OSError):
    """A model could not be loaded from a Hub id or a local directory."""


class PyTorchMissingError(ModelLoadError):
    """Something needs PyTorch and transformers, which this install leaves out (the Space serves ONNX without them)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} needs PyTorch and transformers, which are not installed here: install them "
            "(pip install torch transformers), or serve the model's int8 ONNX export "
            "(python -m training.export) with the occlusion heatmap, which need neither"
        )
