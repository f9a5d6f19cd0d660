"""The dataset card (``README.md``) for a pushed clean/messy dataset, generated from the data itself.

Nothing in the card is typed in by hand: the split counts come from the loaded ``DatasetDict`` and
the provenance (queries, source domains, dates) from the scraper's ``manifest.jsonl`` when present.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from cleanmessy.labels import LABELS

log = logging.getLogger(__name__)

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
DEFAULT_LICENSE = "other"
TOP_DOMAINS = 10


def size_category(total: int) -> str:
    """The Hub's ``size_categories`` bucket for ``total`` examples."""
    return next((name for limit, name in SIZE_CATEGORIES if total < limit), "n>1M")


@dataclass
class Provenance:
    """What the scraper's manifest says about where the images came from."""

    images: int = 0
    queries: Counter = field(default_factory=Counter)  # (query, label) -> images
    domains: Counter = field(default_factory=Counter)  # page (or image) host -> images
    first: str | None = None
    last: str | None = None


def read_provenance(manifest: Path) -> Provenance | None:
    """Summarise ``manifest.jsonl`` (one JSON record per image), or ``None`` if there is no manifest."""
    if not manifest.is_file():
        return None
    summary = Provenance()
    times = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d is not JSON; skipped", manifest, number)
            continue
        summary.images += 1
        if record.get("query"):
            summary.queries[(record["query"], record.get("label", "?"))] += 1
        host = urlsplit(record.get("page_url") or record.get("source_url") or "").hostname
        if host:
            summary.domains[host.removeprefix("www.")] += 1
        if record.get("time"):
            times.append(str(record["time"]))
    if times:
        summary.first, summary.last = min(times), max(times)
    return summary


def split_counts(splits) -> dict[str, dict[str, int]]:
    """``{split: {label: images}}`` for a ``DatasetDict`` with a clean/messy ``label`` ClassLabel."""
    return {
        name: {label: split["label"].count(index) for index, label in enumerate(LABELS)}
        for name, split in splits.items()
    }


def card_metadata(counts: dict[str, dict[str, int]], license: str = DEFAULT_LICENSE) -> dict:
    """The YAML front matter: task, size, license and per-split counts in ``dataset_info``."""
    total = sum(sum(per_label.values()) for per_label in counts.values())
    return {
        "license": license,
        "task_categories": ["image-classification"],
        "task_ids": ["multi-class-image-classification"],
        "size_categories": [size_category(total)],
        "pretty_name": "Clean or messy rooms",
        "tags": ["rooms", "tidiness"],
        "dataset_info": {
            "features": [
                {"name": "image", "dtype": "image"},
                {"name": "label", "dtype": {"class_label": {"names": dict(enumerate(LABELS))}}},
            ],
            "splits": [{"name": name, "num_examples": sum(per_label.values())} for name, per_label in counts.items()],
        },
    }


def _body(repo_id: str, counts: dict[str, dict[str, int]], provenance: Provenance | None, license: str) -> str:
    lines = [
        f"# Clean or messy rooms ({repo_id})",
        "",
        "Photos of rooms labelled **clean** or **messy**, for training the clean-or-messy image classifier.",
        "",
        "## Splits",
        "",
        "| split | " + " | ".join(LABELS) + " | total |",
        "|---|" + "---|" * (len(LABELS) + 1),
    ]
    for name, per_label in counts.items():
        lines.append(f"| {name} | " + " | ".join(str(per_label[l]) for l in LABELS) + f" | {sum(per_label.values())} |")
    lines += [
        "",
        "Columns: `image` (the photo) and `label`, a `ClassLabel` with `0 = clean`, `1 = messy`.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'rooms = load_dataset("{repo_id}")',
        'print(rooms["train"].features["label"].names)  # [\'clean\', \'messy\']',
        "```",
        "",
        "## Provenance",
        "",
    ]
    if provenance is None:
        lines.append("No scraper manifest was found beside the images, so their sources are not recorded here.")
    else:
        when = f", collected between {provenance.first} and {provenance.last}" if provenance.first else ""
        lines += [
            f"Collected with `python -m scraper scrape` (image search results): {provenance.images} images in the "
            f"manifest{when}. Near-duplicates were removed by perceptual hash before splitting.",
            "",
            "| search query | label | images |",
            "|---|---|---|",
            *(f"| {query} | {label} | {n} |" for (query, label), n in sorted(provenance.queries.items())),
            "",
            f"Most frequent source domains ({len(provenance.domains)} in all):",
            "",
            "| domain | images |",
            "|---|---|",
            *(f"| {domain} | {n} |" for domain, n in provenance.domains.most_common(TOP_DOMAINS)),
        ]
    lines += [
        "",
        "## License and use",
        "",
        f"Card license: `{license}`. The photos come from the public web; their copyright stays with their "
        "owners, and the manifest keeps every image's source page. Use them for research and for training "
        "the classifier; remove an image on its owner's request.",
        "",
    ]
    return "\n".join(lines)


def render_card(
    repo_id: str,
    counts: dict[str, dict[str, int]],
    provenance: Provenance | None = None,
    license: str = DEFAULT_LICENSE,
    hub_metadata: dict | None = None,
) -> str:
    """The full ``README.md``. ``hub_metadata`` (what ``push_to_hub`` wrote: ``configs``, ``dataset_info``) is kept."""
    metadata = card_metadata(counts, license)
    for key, value in (hub_metadata or {}).items():  # push_to_hub's dataset_info also has features and byte sizes
        if key == "dataset_info" or key not in metadata:
            metadata[key] = value
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{_body(repo_id, counts, provenance, license)}"
