"""The dataset card of a feedback dataset: what users corrected, counted from the records themselves.

Used by the background push (:mod:`cleanmessy.feedback_sync`) and by
``python -m scraper push --data FEEDBACK_DIR``. Every number comes from the records.
"""

from __future__ import annotations

from collections import Counter

import yaml

from cleanmessy.labels import LABELS

SOURCE_NAMES = {"space": "the Gradio Space", "telegram": "the Telegram bot"}


def _size_category(total: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if total < limit:
            return name
    return "n>100K"


def feedback_counts(records: list[dict]) -> dict:
    """Counts per source, per correct label and per "model was right/wrong", over unique photos."""
    unique = {record.get("sha256") or record.get("file"): record for record in records}.values()
    by_label = {label: Counter() for label in LABELS}
    for record in unique:
        if record.get("label") in by_label:
            by_label[record["label"]]["right" if record.get("model_was_right") else "wrong"] += 1
    return {
        "records": len(records),
        "photos": len(unique),
        "sources": dict(Counter(record.get("source", "unknown") for record in unique)),
        "labels": {label: dict(counts) for label, counts in by_label.items()},
        "first": min((r["time"] for r in records if r.get("time")), default=None),
        "last": max((r["time"] for r in records if r.get("time")), default=None),
    }


def render_feedback_card(repo_id: str, records: list[dict]) -> str:
    """``README.md`` text (YAML metadata + prose) for a feedback dataset made of ``records``."""
    counts = feedback_counts(records)
    metadata = {
        "pretty_name": f"{repo_id.split('/')[-1]}: user corrections for clean-or-messy",
        "task_categories": ["image-classification"],
        "size_categories": [_size_category(counts["photos"])],
        "tags": ["clean-or-messy", "user-feedback", "human-feedback"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "train", "path": [f"{label}/*.jpg" for label in LABELS]}]}],
    }
    sources = ", ".join(f"{SOURCE_NAMES.get(name, name)}: {count}" for name, count in sorted(counts["sources"].items()))
    rows = "\n".join(
        f"| {label} | {c.get('right', 0)} | {c.get('wrong', 0)} | {c.get('right', 0) + c.get('wrong', 0)} |"
        for label, c in counts["labels"].items()
    )
    period = f" between {counts['first']} and {counts['last']}" if counts["first"] else ""
    return f"""---
{yaml.safe_dump(metadata, sort_keys=False).strip()}
---

# {repo_id.split('/')[-1]}

**User corrections** for the clean-or-messy room classifier: each photo was classified by the served
model, and a user then tapped 👍 ("right") or 👎 ("wrong"). The photo is stored under the label the
user confirmed: the model's own label after 👍, the other label after 👎. These are *not* scraped or
curated photos, and the labels are one user's judgement each.

- {counts['photos']} photos ({counts['records']} corrections){period}.
- Where they came from: {sources or "none yet"}.
- No user ids, names or chat ids are stored; photos are re-encoded from pixels (no EXIF metadata).

| correct label | model was right (👍) | model was wrong (👎) | photos |
|---|---|---|---|
{rows}

## Layout

- `clean/*.jpg`, `messy/*.jpg`: the photos, named by the SHA-256 of their bytes.
- `records/*.jsonl`: one JSON line per correction (`file`, `label`, `predicted`, `confidence`,
  `model_was_right`, `source`, `time`), one file per serving process; files only ever grow.

## Use

Train on it together with the base data (it is never used for validation):

```bash
python -m training --data BASE_DATA --data {repo_id} --output models/candidate
```
"""
