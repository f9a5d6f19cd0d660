"""The export's errors: one message a user can act on."""

from __future__ import annotations

from cleanmessy.errors import CleanMessyError


class ExportError(CleanMessyError, RuntimeError):
    """The model could not be exported to ONNX or quantized."""


class ParityError(ExportError):
    """An exported model disagrees with the PyTorch model more than allowed."""
