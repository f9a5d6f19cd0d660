"""Deploy the Gradio app as a Hugging Face Space that serves a model from the Hub.

    python -m space.deploy --repo alice/clean-or-messy-app --model alice/clean-or-messy [--private]
    python -m space.deploy --static --repo alice/clean-or-messy-web --model alice/clean-or-messy

The Space gets the same layout as this repository, so it starts the way ``make demo`` does
(``python space/app.py``):

- ``space/*.py`` (every module there but this one);
- the ``cleanmessy/`` modules those import, followed transitively (so the Space does not carry,
  say, the training-only image-folder loader);
- ``requirements.txt``: the pins from the root ``requirements.txt`` for exactly the third-party
  packages the shipped code imports (gradio itself comes from the Space's ``sdk_version``), plus
  gradio's ``mcp`` extra (``mcp``, ``pydantic``) for the MCP server.
  Imports guarded by ``except ImportError`` are optional and left out: that is how PyTorch and
  transformers stay out of the Space. It serves the model's int8 ONNX export with onnxruntime
  and draws the heatmap by occlusion on that same model, so it installs small and starts fast.
  Only a model without ``onnx/model_quantized.onnx`` (or ``--with-pytorch``) brings PyTorch, and
  then the CPU build: ``torch==X+cpu`` from the PyTorch CPU index, never the CUDA build with its
  ``nvidia-*`` wheels that PyPI's ``torch`` pulls on Linux;
- ``README.md`` with the Space YAML: ``sdk: gradio`` and an ``sdk_version`` checked to be a released
  gradio version (the one pinned in ``requirements.txt``), ``suggested_hardware: cpu-basic``,
  ``models``, ``datasets`` (the model card's), and ``preload_from_hub`` with the files the app
  reads, so a public model is in the image at build time instead of being downloaded at every
  cold start. The model id is also set as the Space variable ``MODEL_ID`` that the app reads
  (and ``--feedback-repo`` as ``FEEDBACK_REPO``).

The Gradio Space also gets the in-browser page (``web/`` with its vendored library and WASM files),
served by the app at ``/web/``.

``--static`` deploys only that page as a static Space (``sdk: static``): the visitor's browser runs the
model (transformers.js, int8 ONNX) and reads it from the model repo, pinned to the model's current
commit, so the repo must be public and carry ``onnx/model_quantized.onnx``. The Space's YAML sets the
cross-origin isolation headers that let the WASM runtime use threads.

Deploying again updates the Space in place and removes shipped files that no longer exist.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

from cleanmessy import settings
from cleanmessy.code_closure import CORE, core_closure, imported_modules
from cleanmessy.errors import CleanMessyError
from cleanmessy.hub import MissingImageProcessorError, endpoint, hub_errors, repo_url
from cleanmessy.model_files import CONFIG_FILE, ONNX_FILES, PROCESSOR_FILE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
APP_FILE = "space/app.py"
SDK_PACKAGES = {"gradio", "gradio-client"}  # installed by the Space runtime from sdk_version
SDK_EXTRAS = ("mcp", "pydantic")
"""The ``gradio[mcp]`` extra, which the runtime does not install: the app serves MCP by default (``MCP_SERVER``)."""
HARDWARE = "cpu-basic"
ONNX_INT8 = ONNX_FILES["onnx-int8"]
SERVED_FILES = (CONFIG_FILE, PROCESSOR_FILE, ONNX_INT8)
"""What the app reads from the model repo when it serves the int8 ONNX model (preloaded at build)."""
PYTORCH_FILES = (CONFIG_FILE, PROCESSOR_FILE, "model.safetensors")
"""What it reads when it serves the PyTorch model instead."""
PYTORCH_STACK = ("torch", "transformers")
"""Imported only behind ``except ImportError`` guards; shipped only with ``pytorch=True``."""
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


class DeployError(CleanMessyError):
    """The Space cannot be assembled from this checkout."""


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form (``Pillow`` -> ``pillow``, ``huggingface_hub`` -> ``huggingface-hub``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def root_pins(requirements: Path) -> dict[str, str]:
    """``{normalised name: requirement line}`` from a pip requirements file."""
    pins = {}
    for line in requirements.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            pins[normalise(re.split(r"[\[<>=!~ ;]", line, maxsplit=1)[0])] = line
    return pins


def space_requirements(files: list[Path], local: set[str], requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """Requirement lines for the third-party packages ``files`` import, pinned as in the root requirements."""
    pins = root_pins(requirements)
    owners = metadata.packages_distributions()
    lines = {}
    for path in files:
        for name in imported_modules(path.read_text("utf-8")):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in local:
                continue
            for dist in owners.get(top) or [top]:
                dist = normalise(dist)
                if dist in SDK_PACKAGES:
                    continue
                if dist in pins:
                    lines[dist] = pins[dist].split(";")[0].strip()
                else:
                    try:
                        lines[dist] = f"{dist}=={metadata.version(dist)}"
                    except metadata.PackageNotFoundError:
                        raise DeployError(f"{path.relative_to(ROOT)} imports {top}, which is not installed") from None
                    log.warning("%s imports %s, not pinned in requirements.txt: using %s", path, top, lines[dist])
    return [lines[name] for name in sorted(lines)]


def pytorch_requirements(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    """The CPU-only PyTorch stack as requirement lines: the CPU index, ``torch==X+cpu``, transformers."""
    pins = root_pins(requirements)
    lines = [f"--extra-index-url {CPU_TORCH_INDEX}"]
    for name in PYTORCH_STACK:
        line = pins.get(name) or f"{name}=={metadata.version(name)}"
        if name == "torch":
            line = line.split("+", 1)[0] + "+cpu"
        lines.append(line.split(";")[0].strip())
    return lines


def sdk_version(requirements: Path = ROOT / "requirements.txt") -> str:
    """The gradio version the Space runs: the root pin, checked to be a final release that is installed here."""
    pin = root_pins(requirements).get("gradio", "")
    match = re.fullmatch(r"gradio(?:\[[\w,-]+\])?==([^\s;]+)", pin.replace(" ", ""))
    if not match:
        raise DeployError(f"requirements.txt must pin gradio exactly (gradio==X.Y.Z), found {pin or 'no pin'!r}")
    try:
        version = Version(match.group(1))
    except InvalidVersion:
        raise DeployError(f"gradio=={match.group(1)} in requirements.txt is not a valid version") from None
    if version.is_prerelease or version.is_devrelease or version.local or str(version) != match.group(1):
        raise DeployError(f"sdk_version must be a released gradio version (X.Y.Z), not {match.group(1)}")
    installed = metadata.version("gradio")
    if installed != match.group(1):
        raise DeployError(f"gradio {installed} is installed but requirements.txt pins {match.group(1)}: "
                          "run `make setup` so the Space runs the version the app was tested with")
    return match.group(1)


def space_card(title: str, model_id: str, gradio_version: str, *, preload: list[str] | None = None,
               datasets: list[str] | None = None, private_model: bool = False) -> str:
    """The Space README: YAML that configures the Space, then how to use and configure it."""
    lines = [
        f"title: {title}", "emoji: 🧹", "colorFrom: yellow", "colorTo: green", "sdk: gradio",
        f"sdk_version: {gradio_version}", 'python_version: "3.11"', f"app_file: {APP_FILE}",
        f"suggested_hardware: {HARDWARE}", "pinned: false", "models:", f"- {model_id}",
    ]
    if datasets:
        lines += ["datasets:"] + [f"- {name}" for name in datasets]
    if preload:
        lines += ["preload_from_hub:", f"- {model_id} {','.join(preload)}"]
    lines.append("short_description: Is this room clean or messy? Upload a photo.")
    if preload:
        model_files = (f"The model's files ({', '.join(f'`{name}`' for name in preload)}) are downloaded when the "
                       "Space is built (`preload_from_hub`), so a cold start does not wait for them.")
    elif private_model:
        model_files = ("The model is private, and `preload_from_hub` runs at build time without your secrets, so the "
                       "app downloads the model's files at start with the `HF_TOKEN` secret (read access). To have "
                       "them in the image instead, use a Docker Space whose Dockerfile downloads them with a build "
                       "secret (`RUN --mount=type=secret,id=HF_TOKEN ...`).")
    else:
        model_files = "The app downloads the model's files at start."
    return f"""---
{chr(10).join(lines)}
---

# {title}

Upload a photo of a room and get a verdict, **clean** or **messy**, with how sure the model is and a
heatmap of where the mess is.

The model is [`{model_id}`]({repo_url(model_id)}). The app reads it from the Space variable
`MODEL_ID` (Settings → Variables and secrets), which `python -m space.deploy` sets; change it there to
serve another clean/messy model. For a private model, also add a secret `HF_TOKEN` with read access.
{model_files}

Feedback (👍/👎) is written to the Space's disk, which a restart wipes: set the variable `FEEDBACK_REPO`
to a dataset repo (and `HF_TOKEN` with write access) to have it pushed there in the background.

Deployed from the clean-or-messy project with
`python -m space.deploy --repo <this space> --model {model_id}`.
"""


def stage_space(
    stage: Path,
    model_id: str,
    title: str,
    space_dir: Path = ROOT / "space",
    *,
    pytorch: bool = False,
    private_model: bool = False,
    datasets: list[str] | None = None,
) -> list[Path]:
    """Write the Space's files into ``stage``; return the shipped Python files (relative to ``stage``).

    ``pytorch``: the model has no int8 ONNX export, so the Space needs the (CPU) PyTorch stack.
    ``private_model``: leave ``preload_from_hub`` out (it cannot use the Space's secrets).
    """
    apps = sorted(p for p in space_dir.glob("*.py") if p.name != Path(__file__).name)
    if not (space_dir / "app.py").is_file():
        raise DeployError(f"{space_dir / 'app.py'} not found: there is no app to deploy")
    sources = apps + core_closure(apps, space_dir.parent)
    for path in sources:
        target = stage / path.relative_to(space_dir.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    local = {CORE, "space"} | {p.stem for p in apps}
    root_requirements = space_dir.parent / "requirements.txt"
    requirements = space_requirements(sources, local, root_requirements)
    pins = root_pins(root_requirements)
    requirements = sorted({*requirements, *(pins[name] for name in SDK_EXTRAS)})
    if pytorch:
        stack = {normalise(name) for name in PYTORCH_STACK}
        requirements = pytorch_requirements(root_requirements) + [
            line for line in requirements if normalise(re.split(r"[\[<>=!~ ;]", line, maxsplit=1)[0]) not in stack]
    (stage / "requirements.txt").write_text("\n".join(requirements) + "\n")
    preload = None if private_model else list(PYTORCH_FILES if pytorch else SERVED_FILES)
    (stage / "README.md").write_text(space_card(title, model_id, sdk_version(root_requirements), preload=preload,
                                                datasets=datasets, private_model=private_model))
    web_dir = space_dir.parent / "web"
    if (web_dir / "index.html").is_file():
        stage_web_page(stage / "web", web_dir)
    return [path.relative_to(space_dir.parent) for path in sources]


# ---------------------------------------------------------------- the in-browser page


def stage_web_page(target: Path, web_dir: Path = ROOT / "web") -> None:
    """Copy the page and the npm files it loads (``vendor/``) into ``target``: a self-contained static site."""
    from space.web_route import PAGE_FILES, vendor_files

    vendor = vendor_files(web_dir)
    (target / "vendor").mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        shutil.copy2(web_dir / name, target / name)
    for name, path in vendor.items():
        shutil.copy2(path, target / "vendor" / name)


def static_settings(model_id: str, revision: str) -> dict:
    """The static page's ``settings.json``: the model repo (at one commit) and the core's defaults."""
    from cleanmessy.images import DEFAULT_MIN_SIDE

    return {
        "model": model_id,
        "revision": revision,
        "local": False,
        "remote_host": f"{endpoint().rstrip('/')}/",
        "unsure_threshold": settings.unsure_threshold(),
        "max_image_bytes": settings.max_image_bytes(),
        "max_image_pixels": settings.max_image_pixels(),
        "min_side": DEFAULT_MIN_SIDE,
    }


def static_space_card(title: str, model_id: str) -> str:
    """The static Space README: YAML (``sdk: static``, cross-origin isolation headers), then what it is."""
    return f"""---
title: {title}
emoji: 🧹
colorFrom: yellow
colorTo: green
sdk: static
app_file: index.html
pinned: false
models:
- {model_id}
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
  cross-origin-resource-policy: cross-origin
short_description: Clean or messy? Runs on your device; the photo never leaves it.
---

# {title} (on your device)

Choose a photo of a room, drop one in, or use the camera: the page says **clean** or **messy**, how
sure it is, "hard to say" when it is not sure enough, and "not a room" when the model can tell.

The model, [`{model_id}`]({repo_url(model_id)}), runs **in your browser** with transformers.js
(its int8 ONNX export on WebAssembly): the photo never leaves your device, and after the first visit
the page works offline. The library and its WASM files are served by this Space; the model files come
from the model repo, pinned to the commit that was current at deploy time.

Deployed from the clean-or-messy project with
`python -m space.deploy --static --repo <this space> --model {model_id}`; deploy again to follow a
newer model.
"""


def stage_static_space(stage: Path, model_id: str, revision: str, title: str, web_dir: Path = ROOT / "web") -> None:
    """Write the static Space's files into ``stage``."""
    stage_web_page(stage, web_dir)
    (stage / "settings.json").write_text(json.dumps(static_settings(model_id, revision), indent=2) + "\n")
    (stage / "README.md").write_text(static_space_card(title, model_id))


def check_browser_model(model_id: str, token: str | None) -> str:
    """The commit a static page should read ``model_id`` at; fail with one line unless a browser can load it."""
    from huggingface_hub import HfApi

    check_model(model_id, token)
    with hub_errors(model_id, "model", action="serve", token=token):
        info = HfApi(token=token).model_info(model_id)
    files = {sibling.rfilename for sibling in info.siblings or []}
    if info.private:
        raise DeployError(f"model repo {model_id} is private: a static Space reads it from each visitor's browser, "
                          "which has no token. Make the model public, or deploy the Gradio Space instead")
    if "onnx/model_quantized.onnx" not in files:
        raise DeployError(f"model repo {model_id} has no onnx/model_quantized.onnx, which the page runs: push a model "
                          "trained with `python -m training` (it exports ONNX), or run `python -m training.export`")
    return info.sha


def deploy_static_space(
    repo_id: str,
    model_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    title: str = "Clean or Messy",
    web_dir: Path = ROOT / "web",
) -> str:
    """Create or update the static Space ``repo_id`` whose page runs ``model_id`` in the browser; return its URL."""
    from huggingface_hub import HfApi

    revision = check_browser_model(model_id, token)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="static-space-") as tmp:
        stage_static_space(Path(tmp), model_id, revision, title, web_dir)
        with hub_errors(repo_id, "space", action="deploy to", token=token):
            api.create_repo(repo_id, repo_type="space", space_sdk="static", private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                repo_type="space",
                folder_path=tmp,
                delete_patterns=["*.html", "*.js", "*.css", "*.json", "vendor/*"],
                commit_message=f"Deploy the in-browser clean-or-messy page running {model_id}@{revision[:7]}",
            )
    return repo_url(repo_id, "space")


@dataclass(frozen=True)
class ModelFacts:
    """What the deploy needs to know about the model repo."""

    private: bool
    has_onnx_int8: bool
    datasets: list[str]


def check_model(model_id: str, token: str | None) -> ModelFacts:
    """Fail with one line unless ``model_id`` exists and has an image processor; return what the Space needs to know."""
    from huggingface_hub import HfApi

    with hub_errors(model_id, "model", action="serve", token=token):
        info = HfApi(token=token).model_info(model_id)
    files = {sibling.rfilename for sibling in info.siblings or []}
    if PROCESSOR_FILE not in files:
        raise MissingImageProcessorError(
            f"model repo {model_id} has no image processor (preprocessor_config.json), so the Space could not "
            "load it: push the model with `python -m training --push-to-hub`, which saves it beside the weights"
        )
    card = info.card_data.to_dict() if info.card_data is not None else {}
    datasets = card.get("datasets") or []
    datasets = [datasets] if isinstance(datasets, str) else [str(name) for name in datasets]
    return ModelFacts(private=bool(info.private), has_onnx_int8=ONNX_INT8 in files, datasets=datasets)


def deploy_space(
    repo_id: str,
    model_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    title: str = "Clean or Messy",
    space_dir: Path = ROOT / "space",
    with_pytorch: bool = False,
    feedback_repo: str | None = None,
) -> str:
    """Create or update the Gradio Space ``repo_id`` serving ``model_id``; return the Space URL.

    ``space_dir`` is the folder holding ``app.py``; the core package and ``requirements.txt`` are read beside it.
    The Space runs without PyTorch unless the model has no int8 ONNX export or ``with_pytorch`` is set.
    """
    from huggingface_hub import HfApi

    model = check_model(model_id, token)
    pytorch = with_pytorch or not model.has_onnx_int8
    if not model.has_onnx_int8:
        print(f"note: {model_id} has no {ONNX_INT8}, so the Space installs (CPU) PyTorch to serve it: export it with "
              "`python -m training.export --model DIR` and push, for a Space that builds small and starts fast")
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="space-") as tmp:
        stage_space(Path(tmp), model_id, title, space_dir, pytorch=pytorch, private_model=model.private,
                    datasets=model.datasets)
        with hub_errors(repo_id, "space", action="deploy to", token=token):
            api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            api.add_space_variable(repo_id, "MODEL_ID", model_id, description="Hub id of the clean/messy model")
            if feedback_repo:
                api.add_space_variable(repo_id, "FEEDBACK_REPO", feedback_repo,
                                       description="Hub dataset the 👍/👎 feedback is pushed to")
            api.upload_folder(
                repo_id=repo_id,
                repo_type="space",
                folder_path=tmp,
                delete_patterns=["*.py", "requirements.txt", "web/*"],
                commit_message=f"Deploy clean-or-messy app serving {model_id}",
            )
    if model.private:
        print(f"note: {model_id} is private: add a secret HF_TOKEN with read access in the Space settings")
    return repo_url(repo_id, "space")


def main(argv: list[str] | None = None) -> int:
    """Entry point: deploy and print the Space URL, or print one clear line and return 2."""
    parser = argparse.ArgumentParser(prog="python -m space.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="Space repo to create or update (user/name)")
    parser.add_argument("--model", required=True, help="Hub model repo the Space serves (user/name)")
    parser.add_argument("--static", action="store_true",
                        help="deploy the in-browser page as a static Space (sdk: static) that runs the model on "
                             "the visitor's device; the model repo must be public")
    parser.add_argument("--private", action="store_true", help="create the Space private (ignored if it exists)")
    parser.add_argument("--title", default="Clean or Messy", help="Space title (default: %(default)s)")
    parser.add_argument("--with-pytorch", action="store_true",
                        help="also install (CPU) PyTorch, e.g. for EXPLAIN_METHOD=gradient (default: only without an ONNX export)")
    parser.add_argument("--feedback-repo", help="Hub dataset the Space pushes 👍/👎 feedback to (sets FEEDBACK_REPO)")
    settings.add_flag(parser, "HF_TOKEN", dest="token")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    token = settings.resolve(args.token, "HF_TOKEN")
    try:
        if args.static:
            url = deploy_static_space(args.repo, args.model, private=args.private, token=token, title=args.title)
        else:
            url = deploy_space(args.repo, args.model, private=args.private, token=token, title=args.title,
                               with_pytorch=args.with_pytorch, feedback_repo=args.feedback_repo)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"==> Space deployed: {url} (serving {args.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
