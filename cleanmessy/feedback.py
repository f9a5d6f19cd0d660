"""User feedback ("was this right?") stored in the image-folder layout training reads.

``FEEDBACK_DIR/<correct label>/<sha256>.jpg`` plus ``FEEDBACK_DIR/manifest.jsonl``,
so ``python -m scraper push --data FEEDBACK_DIR`` can publish it and
``python -m training --data FEEDBACK_DIR`` can learn from it. No personal data is
stored: no user ids, no names, no EXIF (images are re-encoded from pixels).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from pathlib import Path

from PIL import Image

from cleanmessy.labels import check_label
from cleanmessy.verdict import Verdict

_lock = threading.Lock()


class FeedbackStore:
    """Appends feedback records; safe to share between threads of one process."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    def save(self, image: Image.Image, verdict: Verdict, correct_label: str, *, source: str) -> Path:
        """Store ``image`` under its correct label with the model's verdict; return the image path."""
        label = check_label(correct_label)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=92)
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / label / f"{digest[:32]}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".jpg.part")
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
        with _lock, self.manifest.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        return path
