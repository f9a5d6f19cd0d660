"""User feedback ("was this right?") stored in the image-folder layout training reads.

``FEEDBACK_DIR/<correct label>/<sha256>.jpg`` plus one record per correction in
``FEEDBACK_DIR/records/<session>.jsonl``, so ``python -m scraper push --data FEEDBACK_DIR``
can publish it and ``python -m training --data BASE --data FEEDBACK_DIR`` can learn from it.
No personal data is stored: no user ids, no names, no EXIF (images are re-encoded from pixels).

Every file is append-only or written once: images are content-addressed and written
atomically, and each process appends to its own records file (named by its start time and a
random suffix). So a process that dies loses nothing already on disk, the background push
(:mod:`cleanmessy.feedback_sync`) can upload the folder as it is at any moment, and several
processes (the Space, the bot, a restarted Space on a fresh disk) never overwrite each other's
records in the shared Hub dataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path

from PIL import Image

from cleanmessy.labels import check_label
from cleanmessy.verdict import Verdict

logger = logging.getLogger(__name__)
_lock = threading.Lock()

RECORDS_DIR = "records"
LEGACY_MANIFEST = "manifest.jsonl"
"""Where feedback records were kept before per-process record files; still read."""


def is_feedback_folder(root: str | Path) -> bool:
    """Whether ``root`` holds feedback records (it was written by :class:`FeedbackStore`)."""
    root = Path(root)
    return any((root / RECORDS_DIR).glob("*.jsonl")) or _is_feedback_manifest(root / LEGACY_MANIFEST)


def _is_feedback_manifest(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    try:
        return "model_was_right" in json.loads(first)
    except ValueError:
        return False


def read_feedback_records(root: str | Path) -> list[dict]:
    """Every feedback record under ``root`` (all records files), oldest file first; torn lines are skipped."""
    root = Path(root)
    files = sorted((root / RECORDS_DIR).glob("*.jsonl"))
    if _is_feedback_manifest(root / LEGACY_MANIFEST):
        files.insert(0, root / LEGACY_MANIFEST)
    records = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:  # a line cut short by a crash mid-write
                logger.warning("%s:%d is not a complete record; skipped", path, number)
    return records


class FeedbackStore:
    """Appends feedback records; safe to share between threads of one process."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        session = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"
        self.records = self.root / RECORDS_DIR / f"{session}.jsonl"

    def save(self, image: Image.Image, verdict: Verdict, correct_label: str, *, source: str) -> Path:
        """Store ``image`` under its correct label with the model's verdict; return the image path."""
        label = check_label(correct_label)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=92)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / label / f"{digest[:32]}.jpg"
        if not path.exists():  # content-addressed: the same photo again is the same file, written once
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{secrets.token_hex(4)}.part")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        record = {
            "file": str(path.relative_to(self.root)),
            "sha256": digest,
            "label": label,
            "predicted": verdict.label,
            "confidence": round(verdict.confidence, 4),
            "model_was_right": verdict.label == label,
            "source": source,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.records.parent.mkdir(parents=True, exist_ok=True)
        with _lock, self.records.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path
