"""Runtime settings read from environment variables, with documented defaults.

| variable            | default                  | meaning                                               |
|---------------------|--------------------------|-------------------------------------------------------|
| ``MODEL_ID``        | ``models/clean-or-messy``| Hub repo id or local model directory to serve         |
| ``HF_TOKEN``        | unset                    | Hub token for private models (never logged)           |
| ``UNSURE_THRESHOLD``| ``0.65``                 | below this confidence the verdict is "hard to say"    |
| ``TORCH_THREADS``   | all cores                | CPU threads used for one prediction                   |
| ``ORT_THREADS``     | ``TORCH_THREADS``        | onnxruntime intra-op threads for the onnx backends    |
| ``PREDICTOR_BACKEND``| ``auto``                | eager, onnx, onnx-fp32, onnx-int8 or auto (int8 ONNX if the model has it) |
| ``FEEDBACK_DIR``    | ``feedback``             | where 👍/👎 feedback is stored (image-folder layout)    |
| ``REST_RATE_LIMIT`` | ``60/60``                | Space REST API: requests per client per window, ``COUNT/SECONDS`` (``0/60``: off) |
| ``MCP_SERVER``      | ``1``                    | Space: serve the MCP tools at ``/gradio_api/mcp/`` (``0`` turns it off) |
"""

from __future__ import annotations

import os

DEFAULT_MODEL_DIR = "models/clean-or-messy"
DEFAULT_UNSURE_THRESHOLD = 0.65
DEFAULT_FEEDBACK_DIR = "feedback"
DEFAULT_REST_RATE_LIMIT = "60/60"


def model_id() -> str:
    """The model to serve: ``$MODEL_ID`` or the local default directory that ``make train`` writes."""
    return os.environ.get("MODEL_ID") or DEFAULT_MODEL_DIR


def hf_token() -> str | None:
    """The Hub token from ``$HF_TOKEN``, or ``None`` (public repos and the local cache need none)."""
    return os.environ.get("HF_TOKEN") or None


def unsure_threshold() -> float:
    """Confidence under which a verdict is reported as "hard to say" (``$UNSURE_THRESHOLD``)."""
    value = float(os.environ.get("UNSURE_THRESHOLD", DEFAULT_UNSURE_THRESHOLD))
    if not 0.5 <= value <= 1.0:
        raise ValueError(f"UNSURE_THRESHOLD must be between 0.5 and 1.0, got {value}")
    return value


def threads() -> int:
    """CPU threads for inference (``$TORCH_THREADS``, default: every core)."""
    return int(os.environ.get("TORCH_THREADS") or os.cpu_count() or 1)


def ort_threads() -> int:
    """onnxruntime intra-op threads (``$ORT_THREADS``, default: :func:`threads`)."""
    return int(os.environ.get("ORT_THREADS") or threads())


def predictor_backend() -> str:
    """Inference backend (``$PREDICTOR_BACKEND``, default ``auto``); see ``cleanmessy.backends.BACKEND_CHOICES``."""
    return os.environ.get("PREDICTOR_BACKEND") or "auto"


def feedback_dir() -> str:
    """Folder where user feedback is written (``$FEEDBACK_DIR``)."""
    return os.environ.get("FEEDBACK_DIR") or DEFAULT_FEEDBACK_DIR


def rest_rate_limit() -> tuple[int, float]:
    """``(count, seconds)``: requests one client may make to the Space's REST API per window (``$REST_RATE_LIMIT``)."""
    from cleanmessy.ratelimit import parse_rate_limit

    try:
        return parse_rate_limit(os.environ.get("REST_RATE_LIMIT") or DEFAULT_REST_RATE_LIMIT)
    except ValueError as error:
        raise ValueError(f"REST_RATE_LIMIT: {error}") from None


def mcp_server() -> bool:
    """Whether the Space also serves its API as MCP tools (``$MCP_SERVER``, default on; 0/false/no/off turn it off)."""
    return (os.environ.get("MCP_SERVER") or "1").strip().lower() not in {"0", "false", "no", "off"}
