"""Deploy the Gradio app as a Hugging Face Space that serves a model from the Hub.

    python -m space.deploy --repo alice/clean-or-messy-app --model alice/clean-or-messy [--private]

The Space gets the same layout as this repository, so it starts the way ``make demo`` does
(``python space/app.py``):

- ``space/*.py`` (every module there but this one);
- the ``cleanmessy/`` modules those import, followed transitively (so the Space does not carry,
  say, the training-only image-folder loader and its ``datasets`` dependency);
- ``requirements.txt``: the pins from the root ``requirements.txt`` for exactly the third-party
  packages the shipped code imports (gradio itself comes from the Space's ``sdk_version``);
- ``README.md`` with the Space YAML (``sdk: gradio``, ``sdk_version`` of the installed gradio,
  ``app_file``, title, emoji, colours, ``models``) and the model id, which is also set as the
  Space variable ``MODEL_ID`` that the app reads.

Deploying again updates the Space in place and removes shipped files that no longer exist.
"""

from __future__ import annotations

import argparse
import ast
import logging
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from cleanmessy import settings
from cleanmessy.errors import CleanMessyError
from cleanmessy.hub import MissingImageProcessorError, hub_errors, repo_url
from cleanmessy.model_files import PROCESSOR_FILE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
CORE = "cleanmessy"
APP_FILE = "space/app.py"
SDK_PACKAGES = {"gradio", "gradio-client"}  # installed by the Space runtime from sdk_version
IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError"}


class DeployError(CleanMessyError):
    """The Space cannot be assembled from this checkout."""


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form (``Pillow`` -> ``pillow``, ``huggingface_hub`` -> ``huggingface-hub``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(source: str, *, include_optional: bool = False) -> set[str]:
    """Absolute module names imported anywhere in ``source`` (function bodies included).

    Imports inside ``try: ... except ImportError`` are optional and left out unless ``include_optional``.
    """
    tree = ast.parse(source)
    optional: set[int] = set()
    if not include_optional:
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in IMPORT_GUARDS
                or isinstance(h.type, ast.Tuple) and {getattr(e, "id", "") for e in h.type.elts} & IMPORT_GUARDS
                for h in node.handlers
            ):
                optional |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def core_closure(entry_files: list[Path], root: Path = ROOT) -> list[Path]:
    """The ``cleanmessy`` files that ``entry_files`` import, directly or through each other."""
    shipped: set[Path] = {root / CORE / "__init__.py"}
    pending = list(entry_files) + [root / CORE / "__init__.py"]
    while pending:
        path = pending.pop()
        for name in imported_modules(path.read_text("utf-8"), include_optional=True):
            parts = name.split(".")
            if parts[0] != CORE:
                continue
            candidate = root.joinpath(*parts).with_suffix(".py")
            if not candidate.is_file():  # `from cleanmessy.x import Name`: the module is the parent
                candidate = root.joinpath(*parts[:-1]).with_suffix(".py")
            if candidate.is_file() and candidate not in shipped:
                shipped.add(candidate)
                pending.append(candidate)
    return sorted(shipped)


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


def space_card(title: str, model_id: str, gradio_version: str) -> str:
    """The Space README: YAML that configures the Space, then how to use and configure it."""
    return f"""---
title: {title}
emoji: 🧹
colorFrom: yellow
colorTo: green
sdk: gradio
sdk_version: {gradio_version}
python_version: "3.11"
app_file: {APP_FILE}
pinned: false
models:
- {model_id}
short_description: Is this room clean or messy? Upload a photo.
---

# {title}

Upload a photo of a room and get a verdict, **clean** or **messy**, with how sure the model is.

The model is [`{model_id}`]({repo_url(model_id)}). The app reads it from the Space variable
`MODEL_ID` (Settings → Variables and secrets), which `python -m space.deploy` sets; change it there to
serve another clean/messy model. For a private model, also add a secret `HF_TOKEN` with read access.

Deployed from the clean-or-messy project with
`python -m space.deploy --repo <this space> --model {model_id}`.
"""


def stage_space(stage: Path, model_id: str, title: str, space_dir: Path = ROOT / "space") -> list[Path]:
    """Write the Space's files into ``stage``; return the shipped Python files (relative to ``stage``)."""
    apps = sorted(p for p in space_dir.glob("*.py") if p.name != Path(__file__).name)
    if not (space_dir / "app.py").is_file():
        raise DeployError(f"{space_dir / 'app.py'} not found: there is no app to deploy")
    sources = apps + core_closure(apps, space_dir.parent)
    for path in sources:
        target = stage / path.relative_to(space_dir.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    local = {CORE, "space"} | {p.stem for p in apps}
    requirements = space_requirements(sources, local, space_dir.parent / "requirements.txt")
    (stage / "requirements.txt").write_text("\n".join(requirements) + "\n")
    (stage / "README.md").write_text(space_card(title, model_id, metadata.version("gradio")))
    return [path.relative_to(space_dir.parent) for path in sources]


def check_model(model_id: str, token: str | None) -> bool:
    """Fail with one line unless ``model_id`` exists and has an image processor; return whether it is private."""
    from huggingface_hub import HfApi

    with hub_errors(model_id, "model", action="serve", token=token):
        info = HfApi(token=token).model_info(model_id)
    files = {sibling.rfilename for sibling in info.siblings or []}
    if PROCESSOR_FILE not in files:
        raise MissingImageProcessorError(
            f"model repo {model_id} has no image processor (preprocessor_config.json), so the Space could not "
            "load it: push the model with `python -m training --push-to-hub`, which saves it beside the weights"
        )
    return bool(info.private)


def deploy_space(
    repo_id: str,
    model_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    title: str = "Clean or Messy",
    space_dir: Path = ROOT / "space",
) -> str:
    """Create or update the Gradio Space ``repo_id`` serving ``model_id``; return the Space URL.

    ``space_dir`` is the folder holding ``app.py``; the core package and ``requirements.txt`` are read beside it.
    """
    from huggingface_hub import HfApi

    model_private = check_model(model_id, token)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="space-") as tmp:
        stage_space(Path(tmp), model_id, title, space_dir)
        with hub_errors(repo_id, "space", action="deploy to", token=token):
            api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
            api.add_space_variable(repo_id, "MODEL_ID", model_id, description="Hub id of the clean/messy model")
            api.upload_folder(
                repo_id=repo_id,
                repo_type="space",
                folder_path=tmp,
                delete_patterns=["*.py", "requirements.txt"],
                commit_message=f"Deploy clean-or-messy app serving {model_id}",
            )
    if model_private:
        print(f"note: {model_id} is private: add a secret HF_TOKEN with read access in the Space settings")
    return repo_url(repo_id, "space")


def main(argv: list[str] | None = None) -> int:
    """Entry point: deploy and print the Space URL, or print one clear line and return 2."""
    parser = argparse.ArgumentParser(prog="python -m space.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="Space repo to create or update (user/name)")
    parser.add_argument("--model", required=True, help="Hub model repo the Space serves (user/name)")
    parser.add_argument("--private", action="store_true", help="create the Space private (ignored if it exists)")
    parser.add_argument("--title", default="Clean or Messy", help="Space title (default: %(default)s)")
    settings.add_flag(parser, "HF_TOKEN", dest="token")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    token = settings.resolve(args.token, "HF_TOKEN")
    try:
        url = deploy_space(args.repo, args.model, private=args.private, token=token, title=args.title)
    except CleanMessyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"==> Space deployed: {url} (serving {args.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
