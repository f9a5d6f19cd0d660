"""The Space's serving settings: environment variables, overridable by command-line flags.

Each field names its variable in :mod:`cleanmessy.settings`, where its default, flag and meaning are
declared once (the README's Configuration table lists them all). The model (``MODEL_ID``), the
"hard to say" threshold (``UNSURE_THRESHOLD``) and the feedback folder (``FEEDBACK_DIR``) are read by
the core.

Why these defaults, on a 2-core CPU: every forward pass uses all cores, so the Space runs one
model computation at a time (a lock) and gets its throughput from batching concurrent ``/predict``
calls into one pass, not from running passes side by side. ``API_CONCURRENCY`` only bounds how many
calls may wait for a shared pass (it must be at least ``MAX_BATCH`` for full batches);
``QUEUE_CONCURRENCY`` is 2 so one heatmap can be prepared while another is computed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from cleanmessy import settings
from cleanmessy.settings import env_field


@dataclass(frozen=True)
class SpaceConfig:
    """Everything the app needs to know besides the core settings."""

    host: str = env_field("GRADIO_SERVER_NAME")
    port: int = env_field("GRADIO_SERVER_PORT")
    concurrency: int = env_field("QUEUE_CONCURRENCY")
    api_concurrency: int = env_field("API_CONCURRENCY")
    queue_size: int = env_field("QUEUE_MAX_SIZE")
    max_batch: int = env_field("MAX_BATCH")
    max_file_bytes: int = env_field("MAX_IMAGE_BYTES", flag=False)
    examples_dir: str | None = env_field("EXAMPLES_DIR")
    examples_dataset: str | None = env_field("EXAMPLES_DATASET")
    examples_per_label: int = env_field("EXAMPLES_PER_LABEL")


def parse_args(argv: list[str] | None = None) -> SpaceConfig:
    """Read the environment, then let command-line flags override it."""
    parser = argparse.ArgumentParser(
        prog="python space/app.py", description="Serve the clean-or-messy Gradio app (the Hugging Face Space)."
    )
    settings.add_flags(parser, SpaceConfig)
    args = parser.parse_args(argv)
    try:
        return settings.load(SpaceConfig, args)
    except settings.SettingError as error:
        raise SystemExit(str(error)) from None
