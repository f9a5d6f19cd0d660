"""Helpers for the Hub round-trip tests: a scratch project to deploy, and Python import checks."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

from tests.helpers import ROOT_DIR

STAND_IN_APP = '''"""A stand-in Space app: the imports and start-up a real app makes."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr

from cleanmessy import Predictor


def build() -> gr.Interface:
    predictor = Predictor.load(os.environ.get("MODEL_ID"))
    return gr.Interface(lambda image: predictor.predict(image).headline, gr.Image(type="pil"), "text")


if __name__ == "__main__":
    build().launch()
'''


def make_scratch_project(root: Path) -> Path:
    """``root`` with a copy of the core package, the root requirements and a stand-in ``space/app.py``."""
    shutil.copytree(ROOT_DIR / "cleanmessy", root / "cleanmessy", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT_DIR / "requirements.txt", root / "requirements.txt")
    (root / "space").mkdir()
    (root / "space" / "app.py").write_text(STAND_IN_APP)
    (root / "space" / "deploy.py").write_text("raise SystemExit('the deploy script must not be shipped')\n")
    return root


def top_level_imports(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source``, except ones guarded by ``except ImportError``."""
    tree = ast.parse(source)
    guarded = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        and any("ImportError" in ast.unparse(handler.type or ast.Name("")) for handler in node.handlers)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names)


def _present(module: str, files) -> bool:
    base = module.replace(".", "/")
    return f"{base}.py" in files or f"{base}/__init__.py" in files


def missing_local_modules(repo_files: dict[str, bytes], project: Path = ROOT_DIR) -> list[str]:
    """Project modules (``cleanmessy``, ``space``) that the repo's Python files import but the repo lacks."""
    ours = {str(p.relative_to(project)) for package in ("cleanmessy", "space") for p in (project / package).rglob("*.py")}
    missing = []
    for path, content in repo_files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(content)):
            if isinstance(node, ast.Import):
                needed = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pkg import name`: name is a submodule if the project has one by that name
                needed = [node.module] + [
                    f"{node.module}.{alias.name}" for alias in node.names
                    if _present(f"{node.module}.{alias.name}", ours)
                ]
            else:
                continue
            missing += [f"{path}: {m}" for m in needed
                        if m.split(".")[0] in ("cleanmessy", "space") and not _present(m, repo_files)]
    return missing
