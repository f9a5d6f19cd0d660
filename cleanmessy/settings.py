"""Every setting read from the environment, declared once: name, type, default, flag and meaning.

This module is the only place that reads (or writes) ``os.environ``; a test enforces it. Each
:class:`Variable` in :data:`VARIABLES` is declared once, and everything else is derived from it:

- the typed accessors below (``settings.model_id()``...), read at call time, never cached;
- command-line flags (:func:`add_flag`, :func:`add_flags`): a program lists the variables it offers
  as flags, and the flag's name, type, check and help come from here;
- config dataclasses (:func:`env_field`, :func:`load`): a field names its variable, HfArgumentParser-style;
- the Configuration table in the README (:func:`markdown_table`; a test checks they match).

A new setting goes here: one :func:`_declare` call, then ``clean-or-messy settings`` prints the
table to paste into the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cleanmessy.errors import CleanMessyError


class SettingError(CleanMessyError, ValueError):
    """A variable or flag has a value we cannot use; the message names it and says what it should be."""


# ---------------------------------------------------------------- value parsers


def whole(minimum: int | None = None) -> Callable[[str], int]:
    """Parser of a whole number, at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise SettingError(f"must be a whole number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise SettingError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def number(minimum: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """Parser of a number between ``minimum`` and ``maximum``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise SettingError(f"must be a number, got {text!r}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise SettingError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return parse


def truthy(text: str) -> bool:
    """``1``, ``true``, ``yes`` or ``on`` (any case) is true; anything else false (the Hugging Face convention)."""
    return text.strip().lower() in {"1", "true", "yes", "on"}


def rate(text: str) -> tuple[int, float]:
    """``"10/60"`` -> ``(10, 60.0)``: at most 10 photos per user in any 60 s. ``"0/60"`` turns the limit off."""
    try:
        count, seconds = text.split("/")
        result = int(count), float(seconds)
    except ValueError:
        raise SettingError(f"must look like COUNT/SECONDS, e.g. 10/60, got {text!r}") from None
    if result[0] < 0 or result[1] <= 0:
        raise SettingError(f"needs COUNT >= 0 and SECONDS > 0, got {text!r}")
    return result


# ---------------------------------------------------------------- the variables


@dataclass(frozen=True)
class Variable:
    """One environment variable: its parser, its default, the flag that overrides it, and what it means."""

    name: str
    default: Any
    meaning: str
    used_by: str
    parse: Callable[[str], Any] = str
    flag: str | None = None
    shown_default: str | None = None
    secret: bool = False

    @property
    def default_text(self) -> str:
        """The default as the docs show it."""
        if self.shown_default is not None:
            return self.shown_default
        return "unset" if self.default is None else f"`{self.default}`"

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        """The parsed value from ``environ`` (default ``os.environ``); the default when unset or empty."""
        text = (os.environ if environ is None else environ).get(self.name)
        if not text:
            return self.default
        try:
            return self.parse(text)
        except SettingError as error:
            raise SettingError(f"{self.name} {error}") from None

    def parse_flag(self, text: str) -> Any:
        """The parser argparse uses for this variable's flag (errors become argparse's usage errors)."""
        try:
            return self.parse(text)
        except SettingError as error:
            raise argparse.ArgumentTypeError(str(error)) from None


VARIABLES: dict[str, Variable] = {}
"""Every variable the project reads, by name, in the order of the README table."""


def _declare(name: str, default: Any, meaning: str, used_by: str, **details: Any) -> None:
    VARIABLES[name] = Variable(name, default, meaning, used_by, **details)


DEFAULT_MODEL_DIR = "models/clean-or-messy"
DEFAULT_UNSURE_THRESHOLD = 0.75
"""Scores are calibrated (a temperature folded into the model), so a confidence is about the chance the verdict
is right: under 0.75 the model expects to be wrong more than 1 time in 4, which is "hard to say"."""
DEFAULT_FEEDBACK_DIR = "feedback"
DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

_declare("MODEL_ID", DEFAULT_MODEL_DIR, "Hub model id or local model directory to serve", "Space, bot, CLI",
         flag="--model")
_declare("MODEL_REVISION", None, "tag, branch or commit of a Hub `MODEL_ID` to serve, e.g. `v3` from "
         "`python -m training.promote` (rollback: the previous tag)", "Space, bot", flag="--revision",
         shown_default="unset (`main`)")
_declare("HF_TOKEN", None, "Hub token for pushes and private repos, never logged (unset: the `hf auth login` token). "
         "Prefer the variable: a flag shows in `ps`", "all", flag="--token", secret=True)
_declare("HF_ENDPOINT", "https://huggingface.co", "the Hub's address (tests point it at a loopback Hub)", "all")
_declare("HF_HUB_OFFLINE", False, "no Hub access; training then defaults to the packaged base", "all",
         parse=truthy, shown_default="`1` under `make`")
_declare("UNSURE_THRESHOLD", DEFAULT_UNSURE_THRESHOLD, 'below this confidence the verdict is "hard to say"',
         "core", parse=number(0.5, 1.0))
_declare("TORCH_THREADS", None, "CPU threads for one classification", "core",
         parse=whole(1), flag="--threads", shown_default="every core ÷ classifications at once")
_declare("ORT_THREADS", None, "onnxruntime threads for the ONNX backends", "core", parse=whole(1),
         shown_default="`TORCH_THREADS`")
_declare("PREDICTOR_BACKEND", "auto", "`auto` (int8 ONNX if the model has it, else eager), `eager`, `onnx`, "
         "`onnx-fp32`, `onnx-int8`", "core")
_declare("EXPLAIN_METHOD", "occlusion", "heatmap method: `occlusion` (the served model, no PyTorch) or `gradient` "
         "(gradients through the PyTorch model)", "core", parse=str.lower)
_declare("FEEDBACK_DIR", DEFAULT_FEEDBACK_DIR, "where 👍/👎 feedback lands, in the image-folder layout training reads",
         "Space, bot", flag="--feedback-dir")
_declare("FEEDBACK_REPO", None, "Hub dataset (`user/name`, created private) that `FEEDBACK_DIR` is pushed to in "
         "the background", "Space, bot")
_declare("FEEDBACK_PUSH_MINUTES", 5.0, "minutes between those pushes (also one at start-up and one at shutdown)",
         "Space, bot", parse=number(0.01))
_declare("MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES, "largest image file accepted (the Space's upload `max_file_size` too; Telegram's own cap is 20 MB)",
         "core, Space, bot", parse=whole(1), flag="--max-bytes", shown_default="20 MB")
_declare("MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS, "largest decoded image accepted (decompression bombs)",
         "core", parse=whole(1), shown_default="40 MP")
_declare("CLEANMESSY_CACHE", None, "where the packaged base is built", "training",
         shown_default="`~/.cache/clean-or-messy`")
_declare("LOG_LEVEL", "INFO", "logging level (DEBUG, INFO, WARNING...)", "bot", flag="--log-level",
         parse=str.upper)
_declare("GRADIO_SERVER_NAME", "127.0.0.1", "interface the Space listens on (a Space sets 0.0.0.0)", "Space",
         flag="--host")
_declare("GRADIO_SERVER_PORT", 7860, "port the Space listens on", "Space", parse=whole(0), flag="--port")
_declare("QUEUE_CONCURRENCY", 2, "queue `default_concurrency_limit`: page events (verdict + heatmap) and `/predict_batch` calls at once", "Space",
         parse=whole(1), flag="--concurrency")
_declare("API_CONCURRENCY", 32, "`/predict` calls in flight at once; they share forward passes", "Space",
         parse=whole(1), flag="--api-concurrency")
_declare("QUEUE_MAX_SIZE", 128, "requests waiting beyond this are refused (\"queue full\")", "Space",
         parse=whole(1), flag="--queue-size")
_declare("MAX_BATCH", 16, "most photos in one forward pass", "Space", parse=whole(1), flag="--max-batch")
_declare("EXAMPLES_DIR", None, "image folder (`<dir>/<label>/*`) to take example photos from", "Space",
         flag="--examples-dir")
_declare("EXAMPLES_DATASET", None, "Hub dataset id to take example photos from (else the model card's dataset)",
         "Space", flag="--examples-dataset")
_declare("EXAMPLES_PER_LABEL", 3, "example photos per label", "Space", parse=whole(1))
_declare("REST_RATE_LIMIT", (60, 60.0), "REST API (`/api/classify`): photos per client per window, `COUNT/SECONDS` "
         "(`0/60`: off)", "Space", parse=rate, flag="--rest-rate-limit", shown_default="`60/60`")
_declare("MCP_SERVER", True, "serve the API as MCP tools for AI agents at `/gradio_api/mcp/` (`0`: off)", "Space",
         parse=truthy, flag="--mcp-server", shown_default="`1`")
_declare("TELEGRAM_TOKEN", None, "the bot token from @BotFather (environment only: flags show in `ps`)", "bot",
         shown_default="required", secret=True)
_declare("TELEGRAM_WEBHOOK_SECRET", None, "checked against the `X-Telegram-Bot-Api-Secret-Token` header; 1–256 of "
         "`A-Z a-z 0-9 _ -`. Prefer the variable: flags show in `ps`", "bot", flag="--secret", secret=True,
         shown_default="unset; required for webhook and serverless")
_declare("TELEGRAM_API_URL", "https://api.telegram.org", "Bot API server (a local Bot API server, or a test fake)",
         "bot", flag="--api-url")
_declare("BOT_RATE_LIMIT", (10, 60.0), "photos per user per window: `COUNT/SECONDS` (`0/60`: off)", "bot",
         parse=rate, flag="--rate-limit", shown_default="`10/60`")
_declare("BOT_MAX_CONCURRENT", 2, "classifications running at once (others wait)", "bot",
         parse=whole(1), flag="--max-concurrent", shown_default="`2` (`1` serverless)")
_declare("BOT_ALBUM_WAIT", 1.0, "seconds to gather an album's photos before answering (serverless: 0, photo by photo)", "bot",
         parse=number(0.0), flag="--album-wait")
_declare("BOT_UPDATE_TIMEOUT", 60.0, "serverless: longest one update may take (keep it under the platform's)",
         "bot", parse=number(0.0))
_declare("BOT_MAX_UPDATE_BYTES", 1024 * 1024, "webhook and serverless: a larger request body gets 400, unread "
         "(Telegram's updates are a few kB)", "bot", parse=whole(1024), shown_default="1 MB")
_declare("SCRAPER_ENGINE", "google", "search engine adapter", "scraper", flag="--engine")
_declare("SCRAPER_WORKERS", 4, "parallel downloads", "scraper", parse=whole(1), flag="--workers")
_declare("SCRAPER_PACE", 0.5, "minimum seconds between browser actions on the search site", "scraper",
         parse=number(0.0), flag="--pace")
_declare("SCRAPER_HOST_INTERVAL", 0.25, "minimum seconds between downloads from one host", "scraper",
         parse=number(0.0), flag="--host-interval")
_declare("SCRAPER_CHROMIUM", "/usr/bin/chromium", "browser binary (Debian's Chromium)", "scraper, tests")
_declare("SCRAPER_CHROMEDRIVER", "/usr/bin/chromedriver", "driver binary (Debian's chromedriver)", "scraper, tests")


def default(name: str) -> Any:
    """The declared default of variable ``name`` (what applies when it is unset)."""
    return VARIABLES[name].default


def get(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """The value of variable ``name``: parsed from ``environ`` (default ``os.environ``), else its default."""
    return VARIABLES[name].read(environ)


def is_set(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``name`` is given a (non-empty) value."""
    return bool((os.environ if environ is None else environ).get(VARIABLES[name].name))


# ---------------------------------------------------------------- typed accessors


def model_id() -> str:
    """The model to serve: ``$MODEL_ID`` or the local default directory that ``make train`` writes."""
    return get("MODEL_ID")


def hf_token() -> str | None:
    """The Hub token from ``$HF_TOKEN``, or ``None`` (public repos and the local cache need none)."""
    return get("HF_TOKEN")


def hub_endpoint() -> str:
    """The Hub URL in use (``$HF_ENDPOINT`` or huggingface.co), without a trailing slash."""
    return get("HF_ENDPOINT").rstrip("/")


def hub_offline() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` forbids Hub access."""
    return get("HF_HUB_OFFLINE")


def unsure_threshold() -> float:
    """Confidence under which a verdict is reported as "hard to say" (``$UNSURE_THRESHOLD``)."""
    return get("UNSURE_THRESHOLD")


def threads(concurrent: int = 1) -> int:
    """CPU threads for one classification (``$TORCH_THREADS``).

    Default: every core, shared among the ``concurrent`` classifications a program runs at once
    (the bot runs ``BOT_MAX_CONCURRENT``; the Space and the command line one), so they never
    oversubscribe the CPU.
    """
    return get("TORCH_THREADS") or default_threads(concurrent)


def default_threads(concurrent: int = 1) -> int:
    """Every core, shared among ``concurrent`` classifications (at least one thread each)."""
    return max(1, (os.cpu_count() or 1) // max(1, concurrent))


def ort_threads() -> int:
    """onnxruntime intra-op threads (``$ORT_THREADS``, default: :func:`threads`)."""
    return get("ORT_THREADS") or threads()


def predictor_backend() -> str:
    """Inference backend (``$PREDICTOR_BACKEND``, default ``auto``); see ``cleanmessy.backends.BACKEND_CHOICES``."""
    return get("PREDICTOR_BACKEND")


def feedback_dir() -> str:
    """Folder where user feedback is written (``$FEEDBACK_DIR``)."""
    return get("FEEDBACK_DIR")


def explain_method() -> str:
    """Heatmap method (``$EXPLAIN_METHOD``, default ``occlusion``); see ``cleanmessy.explain.METHODS``."""
    return get("EXPLAIN_METHOD")


def model_revision() -> str | None:
    """The pinned revision (tag, branch or commit) of a Hub ``MODEL_ID`` (``$MODEL_REVISION``), or ``None``."""
    return get("MODEL_REVISION")


def feedback_repo() -> str | None:
    """The Hub dataset repo that feedback is pushed to in the background (``$FEEDBACK_REPO``), or ``None``."""
    return get("FEEDBACK_REPO")


def feedback_push_minutes() -> float:
    """Minutes between background feedback pushes (``$FEEDBACK_PUSH_MINUTES``, default 5)."""
    return get("FEEDBACK_PUSH_MINUTES")


def max_image_bytes() -> int:
    """Largest encoded image accepted (``$MAX_IMAGE_BYTES``, default 20 MB: Telegram's download cap)."""
    return get("MAX_IMAGE_BYTES")


def max_image_pixels() -> int:
    """Largest decoded image accepted (``$MAX_IMAGE_PIXELS``, default 40 MP), against decompression bombs."""
    return get("MAX_IMAGE_PIXELS")


def cache_dir() -> Path:
    """``$CLEANMESSY_CACHE``, or ``~/.cache/clean-or-messy``."""
    return Path(get("CLEANMESSY_CACHE") or Path.home() / ".cache" / "clean-or-messy").expanduser()


def log_level() -> str:
    """``$LOG_LEVEL`` in upper case (default ``INFO``)."""
    return get("LOG_LEVEL")


# ---------------------------------------------------------------- the environment of other code


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment plus ``overrides``, for a subprocess."""
    return {**os.environ, **overrides}


def export(name: str, value: str, *, overwrite: bool = True) -> None:
    """Set ``name`` in this process's environment, for a library that reads it (Gradio, Selenium Manager).

    With ``overwrite=False`` a value the user set wins.
    """
    if overwrite:
        os.environ[name] = value
    else:
        os.environ.setdefault(name, value)


# ---------------------------------------------------------------- flags and config dataclasses


def add_flag(parser: argparse.ArgumentParser, name: str, *, dest: str | None = None, **extra: Any) -> None:
    """Add variable ``name``'s flag to ``parser``: its type and check, help naming the variable and the default.

    The flag's default is ``None`` (not given), so the environment and then the declared default apply
    (:func:`resolve`). ``extra`` goes to ``add_argument`` (``choices``...).
    """
    variable = VARIABLES[name]
    if variable.flag is None:
        raise ValueError(f"{name} has no command-line flag")
    parser.add_argument(variable.flag, dest=dest, type=variable.parse_flag, default=None,
                        metavar=variable.flag.lstrip("-").replace("-", "_").upper(),
                        help=f"{variable.meaning} (env {name}, default {variable.default_text.strip('`')})", **extra)


def resolve(given: Any, name: str) -> Any:
    """A flag's value when it was ``given`` (not ``None``), else variable ``name``'s."""
    return given if given is not None else get(name)


def env_field(name: str, *, flag: bool = True) -> Any:
    """A dataclass field filled from variable ``name`` by :func:`load`, with a flag from :func:`add_flags`."""
    default = VARIABLES[name].default
    return dataclasses.field(default=default, metadata={"env": name, "flag": flag and VARIABLES[name].flag is not None})


def add_flags(parser: argparse.ArgumentParser, config_type: type) -> None:
    """The flags of every :func:`env_field` of ``config_type`` that has one."""
    for item in dataclasses.fields(config_type):
        if item.metadata.get("flag"):
            add_flag(parser, item.metadata["env"], dest=item.name)


def load(config_type: type, args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None,
         **values: Any):
    """A ``config_type`` whose fields are: ``values`` given here, else flags given in ``args``, else the environment."""
    for item in dataclasses.fields(config_type):
        name = item.metadata.get("env")
        if item.name in values or name is None:
            continue
        given = getattr(args, item.name, None) if args is not None else None
        values[item.name] = given if given is not None else get(name, environ)
    return config_type(**values)


# ---------------------------------------------------------------- the README table


def markdown_table() -> str:
    """The Configuration table of the README, generated from :data:`VARIABLES`."""
    lines = ["| variable | flag | default | used by | meaning |", "|---|---|---|---|---|"]
    for variable in VARIABLES.values():
        flag = f"`{variable.flag}`" if variable.flag else ""
        lines.append(f"| `{variable.name}` | {flag} | {variable.default_text} | {variable.used_by} | {variable.meaning} |")
    return "\n".join(lines) + "\n"

