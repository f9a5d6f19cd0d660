"""Build a self-contained serverless bundle of the bot: code, int8 ONNX model, requirements, entry point.

    python -m bot.package --target gcf --model models/clean-or-messy --out dist/gcf
    python -m bot.package --target lambda --model user/clean-or-messy@main --out dist/lambda

The bundle holds only what a webhook invocation runs: ``bot/`` without its CLI, the core modules the
bot imports (not the explanation or dataset code, which need torch or datasets), the model's
``config.json``, ``preprocessor_config.json``, ``onnx/model_quantized.onnx`` and ``eval/metrics.json``
(for /about), and a ``requirements.txt`` pinned from the project's own, without torch or transformers.
Entry points: ``main.py`` (``telegram_webhook``, a ``functions_framework`` HTTP function) for Google
Cloud Functions, ``lambda_function.lambda_handler`` for AWS Lambda. For Lambda the dependencies are
installed into the bundle for the Lambda platform (``pip --platform manylinux2014_x86_64 --platform
manylinux_2_28_x86_64 --python-version 3.12 --only-binary=:all:``) and everything is zipped beside the folder.
Without PyTorch weights the bundle cannot draw heatmaps: the "Why?" button says so.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cleanmessy.code_closure import core_closure

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("gcf", "lambda")

BOT_MODULES = ("__init__", "albums", "app", "buttons", "config", "handlers", "logs", "media", "serverless", "service",
               "texts", "updates")
MODEL_FILES = ("config.json", "preprocessor_config.json", "onnx/model_quantized.onnx")
OPTIONAL_MODEL_FILES = ("eval/metrics.json",)
RUNTIME_PACKAGES = ("python-telegram-bot", "onnxruntime", "numpy", "pillow")
PLATFORM_PACKAGES = {"gcf": ("functions-framework",), "lambda": ()}
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
"""Wheels Lambda's python3.12 runtime (Amazon Linux 2023, glibc 2.34, x86_64) can load. manylinux2014 alone
is not enough: onnxruntime 1.32, numpy 2.4 and pillow 12.3 ship manylinux_2_28 wheels only."""
LAMBDA_PYTHON = "3.12"

MB = 1024 * 1024
LIMITS = {
    # Cloud Functions: 100 MB compressed source upload, 500 MB uncompressed source plus modules.
    "gcf": {"zipped": 100 * MB, "unzipped": 500 * MB},
    # Lambda: 250 MB unzipped (code and layers); a zip over 50 MB must be uploaded through S3.
    "lambda": {"zipped": None, "unzipped": 250 * MB},
}
LAMBDA_DIRECT_UPLOAD = 50 * MB

ENTRY_DEFAULTS = '''from pathlib import Path

from cleanmessy import settings

# Deployment defaults (the function's environment variables win): the model shipped beside this file,
# no Hub access, feedback under /tmp (the only writable place on the platform).
settings.export("MODEL_ID", str(Path(__file__).resolve().parent / "model"), overwrite=False)
settings.export("HF_HUB_OFFLINE", "1", overwrite=False)
settings.export("FEEDBACK_DIR", "/tmp/clean-or-messy-feedback", overwrite=False)
'''

GCF_MAIN = '''"""Google Cloud Functions entry point of the clean-or-messy Telegram bot (built by `python -m bot.package`).

Deploy with --entry-point telegram_webhook; settings are the environment variables of bot/README.md.
"""

''' + ENTRY_DEFAULTS + '''
import functions_framework  # noqa: E402

from bot.serverless import gcf_handler  # noqa: E402


@functions_framework.http
def telegram_webhook(request):
    """One Telegram webhook request: 403 without the secret header, else processed to completion."""
    return gcf_handler(request)
'''

LAMBDA_MAIN = '''"""AWS Lambda entry point of the clean-or-messy Telegram bot (built by `python -m bot.package`).

Handler: lambda_function.lambda_handler (a function URL or API Gateway HTTP API event).
"""

''' + ENTRY_DEFAULTS + '''
from bot.serverless import lambda_handler  # noqa: E402,F401
'''


class PackageError(ValueError):
    """The bundle cannot be built; the message says why and what to do."""


@dataclass(frozen=True)
class Bundle:
    """What was built: the folder, the Lambda zip (if any) and their sizes in bytes."""

    target: str
    folder: Path
    archive: Path | None
    unzipped: int
    zipped: int

    def report(self) -> list[str]:
        """Human lines: sizes against the platform's limits, and warnings."""
        limits = LIMITS[self.target]
        lines = [f"bundle {self.folder}: {self.unzipped / MB:.1f} MB unzipped (limit {limits['unzipped'] / MB:.0f} MB), "
                 f"{self.zipped / MB:.1f} MB zipped" + (f" -> {self.archive}" if self.archive else "")]
        if self.target == "lambda" and self.zipped > LAMBDA_DIRECT_UPLOAD:
            lines.append(f"the zip is over {LAMBDA_DIRECT_UPLOAD / MB:.0f} MB: upload it through S3 "
                         "(aws s3 cp, then --code S3Bucket=...,S3Key=...), as bot/README.md shows")
        return lines


def pinned_requirements(names: tuple[str, ...], requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """``name==version`` for each of ``names``, read from the project's pinned requirements."""
    pins: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    missing = [name for name in names if name not in pins]
    if missing:
        raise PackageError(f"{requirements} pins no version of {', '.join(missing)}")
    return [f"{name}=={pins[name]}" for name in names]


def fetch_model(spec: str) -> Path:
    """A local directory holding the model files: ``spec`` itself, or a Hub snapshot of repo[@rev]."""
    from cleanmessy.model_source import split_revision

    source, revision = split_revision(spec)
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download

    from cleanmessy import settings
    from cleanmessy.hub import describe

    try:
        return Path(snapshot_download(source, revision=revision, token=settings.hf_token(),
                                      allow_patterns=[*MODEL_FILES, *OPTIONAL_MODEL_FILES]))
    except Exception as error:
        if hub_error := describe(error, source, action="load", token=settings.hf_token()):
            raise PackageError(str(hub_error)) from error
        raise


def copy_model(model_dir: Path, destination: Path) -> None:
    """The serving files only; refuses a model without its int8 ONNX export."""
    for name in MODEL_FILES:
        if not (model_dir / name).is_file():
            hint = " (run `python -m training`, which exports it)" if name.startswith("onnx/") else ""
            raise PackageError(f"{model_dir} has no {name}{hint}")
    for name in (*MODEL_FILES, *OPTIONAL_MODEL_FILES):
        if (model_dir / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(model_dir / name, destination / name)


def copy_code(destination: Path) -> None:
    """The bot modules the handler runs, and the core modules they import (followed through each other)."""
    bot_files = [ROOT / "bot" / f"{module}.py" for module in BOT_MODULES]
    for path in [*bot_files, *core_closure(bot_files, ROOT)]:
        target = destination / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def install_dependencies(requirements: Path, target: Path, *, platforms: tuple[str, ...], python_version: str) -> None:
    """``pip install`` the requirements into ``target`` as wheels built for ``platforms`` and ``python_version``."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", str(target), *[f"--platform={platform}" for platform in platforms],
               "--python-version", python_version, "--implementation", "cp", "--only-binary=:all:",
               "-r", str(requirements)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise PackageError(f"pip could not install the bundle's dependencies for {', '.join(platforms)}, Python "
                           f"{python_version}:\n{result.stderr.strip()[-2000:]}")


def folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def zip_folder(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                bundle.write(path, path.relative_to(folder).as_posix())


def build(target: str, model: str, out: Path, *, platforms: tuple[str, ...] = LAMBDA_PLATFORMS,
          python_version: str = LAMBDA_PYTHON, install: bool = True) -> Bundle:
    """Build the bundle for ``target`` into ``out`` (replaced if it exists) and check the platform's limits.

    ``install=False`` skips installing the Lambda dependencies (the zip then holds only code and model).
    """
    if target not in TARGETS:
        raise PackageError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    model_dir = fetch_model(model)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    copy_code(out)
    copy_model(model_dir, out / "model")
    requirements = out / "requirements.txt"
    requirements.write_text("\n".join(pinned_requirements(RUNTIME_PACKAGES + PLATFORM_PACKAGES[target])) + "\n")
    (out / ("main.py" if target == "gcf" else "lambda_function.py")).write_text(
        GCF_MAIN if target == "gcf" else LAMBDA_MAIN)
    if target == "lambda" and install:
        install_dependencies(requirements, out, platforms=platforms, python_version=python_version)
    archive = out.with_name(out.name + ".zip")
    zip_folder(out, archive)
    bundle = Bundle(target, out, archive, folder_size(out), archive.stat().st_size)
    limits = LIMITS[target]
    if bundle.unzipped > limits["unzipped"] or (limits["zipped"] and bundle.zipped > limits["zipped"]):
        raise PackageError(" ".join(bundle.report()) + f": over the {target} limits")
    return bundle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.package", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, choices=TARGETS, help="gcf (Google Cloud Functions) or lambda")
    parser.add_argument("--model", required=True, help="model directory, or Hub repo id with an optional @revision")
    parser.add_argument("--out", required=True, type=Path, help="bundle folder to create (replaced if it exists); "
                                                                "the zip is written beside it as OUT.zip")
    parser.add_argument("--platform", action="append", dest="platforms",
                        help="lambda: pip platform tag, repeatable (default: " + " ".join(LAMBDA_PLATFORMS) + ")")
    parser.add_argument("--python-version", default=LAMBDA_PYTHON,
                        help="lambda: Python version of the runtime (default: %(default)s, runtime python3.12)")
    args = parser.parse_args(argv)
    try:
        bundle = build(args.target, args.model, args.out, platforms=tuple(args.platforms or LAMBDA_PLATFORMS),
                       python_version=args.python_version)
    except PackageError as error:
        raise SystemExit(f"error: {error}") from None
    print("\n".join(bundle.report()))


if __name__ == "__main__":
    main()
