"""The output folder: ``DIR/<label>/*.jpg``, ``DIR/manifest.jsonl`` and ``DIR/rejected.jsonl``.

Writes are crash-safe. A kept image is first written and fsynced under ``DIR/.tmp/``, then its
manifest line is appended and fsynced, and only then is the file renamed into ``DIR/<label>/``.
A run killed at any moment therefore never leaves a partial file in a label folder, and every
image there has its manifest line. Opening the folder again empties ``.tmp/``, drops a torn
last line, and forgets a manifest entry whose rename never happened (its URL is fetched again).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from cleanmessy.labels import LABELS
from cleanmessy.model_files import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
REJECTED = "rejected.jsonl"
STAGING = ".tmp"


def slugify(text: str, limit: int = 40) -> str:
    """A short lowercase file-name-safe form of ``text``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "image"


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file beside it and a rename."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        _write_synced(temporary, data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file, repairing a torn last line left by a killed writer."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    if raw and not raw.endswith(b"\n"):
        cut = raw.rfind(b"\n") + 1
        log.warning("%s: dropping an incomplete last line left by an interrupted run", path.name)
        with open(path, "r+b") as handle:
            handle.truncate(cut)
        raw = raw[:cut]
    records = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s line %d: not valid JSON, ignored", path.name, number)
    return records


@dataclass
class ImageFolder:
    """An image-folder dataset being built; thread-safe appends."""

    root: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, root: str | Path) -> "ImageFolder":
        """Open (creating if needed) ``root`` and repair what an interrupted run left (see module doc)."""
        folder = cls(Path(root))
        for label in LABELS:
            (folder.root / label).mkdir(parents=True, exist_ok=True)
        staging = folder.root / STAGING
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        records = _read_jsonl(folder.root / MANIFEST)
        folder.records = [r for r in records if (folder.root / r.get("file", "")).is_file()]
        if len(folder.records) < len(records):
            log.warning("%d manifest entries point at missing files: dropped", len(records) - len(folder.records))
            write_atomic(folder.root / MANIFEST, "".join(_line(r) for r in folder.records).encode("utf-8"))
        folder.rejected = _read_jsonl(folder.root / REJECTED)
        return folder

    def untracked_images(self) -> Iterator[Path]:
        """Image files under ``<label>/`` that the manifest does not list (e.g. added by hand)."""
        tracked = {record["file"] for record in self.records}
        for label in LABELS:
            for path in sorted((self.root / label).iterdir()):
                relative = f"{label}/{path.name}"
                if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and relative not in tracked:
                    yield path

    def commit(self, record: dict[str, Any], data: bytes) -> None:
        """Store a kept image: staged file, then manifest line, then rename to ``record["file"]``."""
        target = self.root / record["file"]
        staged = self.root / STAGING / f"{uuid.uuid4().hex}.part"
        try:
            _write_synced(staged, data)
            self._append(MANIFEST, record)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)

    def add_rejection(self, record: dict[str, Any]) -> None:
        """Append a rejected candidate to ``rejected.jsonl``."""
        self._append(REJECTED, record)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with self._lock:
            with open(self.root / name, "a", encoding="utf-8") as handle:
                handle.write(_line(record))
                handle.flush()
                os.fsync(handle.fileno())
            (self.records if name == MANIFEST else self.rejected).append(record)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
