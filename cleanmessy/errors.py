"""Typed errors whose messages a user can act on.

Every error raised by the core derives from :class:`CleanMessyError`, so adapters
(the Space, the bot, the CLIs) can catch one type and show ``str(error)`` as-is.
"""

from __future__ import annotations

import sys
from typing import Callable


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


def exit_status(work: Callable[[], int], *, interrupted: str | None = None) -> int:
    """Run a command's ``work`` and return its exit status: the core's errors become one line and 2, never a traceback.

    ``RuntimeError`` counts too (the libraries raise it for bad setups, with a readable message);
    Ctrl-C returns 130 after ``interrupted``, the line that says what state it left behind.
    """
    try:
        return work()
    except (CleanMessyError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if interrupted:
            print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
