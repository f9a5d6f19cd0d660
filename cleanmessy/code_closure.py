"""Which of the core's files a piece of code needs: what a deployed Space or a serverless bundle must carry.

Both ``python -m space.deploy`` and ``python -m bot.package`` ship only the ``cleanmessy`` modules their
entry points import, found by reading the imports (:func:`core_closure`), never from a list kept by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = "cleanmessy"
IMPORT_GUARDS = {"ImportError", "ModuleNotFoundError"}
"""An import inside ``try: ... except`` one of these is optional."""


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
