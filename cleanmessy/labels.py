"""The fixed label set shared by every part of the project."""

from __future__ import annotations

LABELS: tuple[str, str] = ("clean", "messy")
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
LABEL2ID: dict[str, int] = {name: i for i, name in ID2LABEL.items()}


def check_label(name: str) -> str:
    """Return ``name`` normalised to a known label, or raise ``ValueError``."""
    label = name.strip().lower()
    if label not in LABEL2ID:
        raise ValueError(f"unknown label {name!r}: expected one of {', '.join(LABELS)}")
    return label
