"""The Space's serving settings: environment variables with documented defaults, overridable by CLI flags.

| variable             | flag            | default     | meaning                                                        |
|----------------------|-----------------|-------------|----------------------------------------------------------------|
| ``GRADIO_SERVER_NAME``| ``--host``     | 127.0.0.1   | interface to listen on (a Space sets 0.0.0.0)                  |
| ``GRADIO_SERVER_PORT``| ``--port``     | 7860        | port to listen on                                              |
| ``QUEUE_CONCURRENCY`` | ``--concurrency``| 2         | ``default_concurrency_limit``: UI events (verdict + heatmap) run at once |
| ``API_CONCURRENCY``   | ``--api-concurrency``| 32    | ``/predict`` calls in flight at once; they share forward passes |
| ``QUEUE_MAX_SIZE``    | ``--queue-size``| 128        | ``max_size``: requests waiting beyond that are refused ("queue full") |
| ``MAX_BATCH``         | ``--max-batch`` | 16         | most photos in one forward pass                                |
| ``MAX_IMAGE_BYTES``   |                 | 20 MB      | ``max_file_size`` of uploads (shared with the core's image intake) |
| ``EXAMPLES_DIR``      | ``--examples-dir``| unset    | image folder (``<dir>/<label>/*``) to take example photos from |
| ``EXAMPLES_DATASET``  | ``--examples-dataset``| unset | Hub dataset id to take example photos from                    |
| ``EXAMPLES_PER_LABEL``|                 | 3          | example photos per label                                       |
| ``REST_RATE_LIMIT``   | ``--rest-rate-limit``| 60/60 | REST API (``/api/classify``): photos per client per window, ``COUNT/SECONDS``; ``0/60`` off |
| ``MCP_SERVER``        | ``--mcp`` / ``--no-mcp``| on | also serve the API as MCP tools at ``/gradio_api/mcp/``     |

The model (``MODEL_ID``), the "hard to say" threshold (``UNSURE_THRESHOLD``), the feedback
folder (``FEEDBACK_DIR``), ``REST_RATE_LIMIT`` and ``MCP_SERVER`` come from :mod:`cleanmessy.settings`.

Why these defaults, on a 2-core CPU: every forward pass uses all cores, so the Space runs one
model computation at a time (a lock) and gets its throughput from batching concurrent ``/predict``
calls into one pass, not from running passes side by side. ``API_CONCURRENCY`` only bounds how many
calls may wait for a shared pass (it must be at least ``MAX_BATCH`` for full batches);
``QUEUE_CONCURRENCY`` is 2 so one heatmap can be prepared while another is computed.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from cleanmessy import settings
from cleanmessy.images import DEFAULT_MAX_BYTES
from cleanmessy.ratelimit import parse_rate_limit


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        number = int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {value!r}") from None
    if number < 1:
        raise SystemExit(f"{name} must be at least 1, got {number}")
    return number


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the app needs to know besides the core settings."""

    host: str = "127.0.0.1"
    port: int = 7860
    concurrency: int = 2
    api_concurrency: int = 32
    queue_size: int = 128
    max_batch: int = 16
    max_file_bytes: int = DEFAULT_MAX_BYTES
    examples_dir: str | None = None
    examples_dataset: str | None = None
    examples_per_label: int = 3
    rest_rate_limit: tuple[int, float] = (60, 60.0)
    mcp_server: bool = True


def parse_args(argv: list[str] | None = None) -> SpaceConfig:
    """Read the environment, then let command-line flags override it."""
    parser = argparse.ArgumentParser(
        prog="python space/app.py", description="Serve the clean-or-messy Gradio app (the Hugging Face Space)."
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="interface to listen on (default: $GRADIO_SERVER_NAME or %(default)s)")
    parser.add_argument("--port", type=int, default=_int("GRADIO_SERVER_PORT", 7860),
                        help="port (default: $GRADIO_SERVER_PORT or %(default)s)")
    parser.add_argument("--concurrency", type=int, default=_int("QUEUE_CONCURRENCY", 2),
                        help="queue default_concurrency_limit for UI events (default: %(default)s)")
    parser.add_argument("--api-concurrency", type=int, default=_int("API_CONCURRENCY", 32),
                        help="/predict calls in flight at once (default: %(default)s)")
    parser.add_argument("--queue-size", type=int, default=_int("QUEUE_MAX_SIZE", 128),
                        help="queue max_size (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=_int("MAX_BATCH", 16),
                        help="most photos per forward pass (default: %(default)s)")
    parser.add_argument("--examples-dir", default=os.environ.get("EXAMPLES_DIR") or None,
                        help="image folder <dir>/<label>/* with example photos (default: $EXAMPLES_DIR)")
    parser.add_argument("--examples-dataset", default=os.environ.get("EXAMPLES_DATASET") or None,
                        help="Hub dataset id with example photos (default: $EXAMPLES_DATASET, else the "
                             "dataset named in the model card)")
    parser.add_argument("--rest-rate-limit", default=None,
                        help="REST API photos per client per window, COUNT/SECONDS, 0/60 for none "
                             "(default: $REST_RATE_LIMIT or 60/60)")
    parser.add_argument("--mcp", action=argparse.BooleanOptionalAction, default=None,
                        help="serve the API as MCP tools at /gradio_api/mcp/ (default: $MCP_SERVER, on)")
    args = parser.parse_args(argv)
    try:
        rest_rate_limit = parse_rate_limit(args.rest_rate_limit) if args.rest_rate_limit else settings.rest_rate_limit()
    except ValueError as error:
        parser.error(str(error))
    for name in ("port", "concurrency", "api_concurrency", "queue_size", "max_batch"):
        if getattr(args, name) < (0 if name == "port" else 1):
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return SpaceConfig(
        host=args.host,
        port=args.port,
        concurrency=args.concurrency,
        api_concurrency=args.api_concurrency,
        queue_size=args.queue_size,
        max_batch=args.max_batch,
        examples_dir=args.examples_dir,
        examples_dataset=args.examples_dataset,
        examples_per_label=_int("EXAMPLES_PER_LABEL", 3),
        rest_rate_limit=rest_rate_limit,
        mcp_server=settings.mcp_server() if args.mcp is None else args.mcp,
    )
