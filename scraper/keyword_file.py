"""Read the keyword file: one search query per row, with its label and how many images to keep.

CSV (header row required)::

    query,label,count,min_size,size
    tidy bedroom,clean,40,,
    messy kitchen,messy,40,256,512

YAML, either a list of rows or a mapping with shared ``defaults``::

    defaults: {count: 40, min_size: 224}
    queries:
      - {query: tidy bedroom, label: clean}
      - {query: messy kitchen, label: messy, count: 60, size: 512}

``min_size`` rejects images whose shorter side is smaller; ``size`` downscales kept images so
their longer side is at most that many pixels (never upscales).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from cleanmessy.labels import check_label
from scraper.errors import KeywordFileError

FIELDS = ("query", "label", "count", "min_size", "size")


@dataclass(frozen=True)
class Keyword:
    """One search query and what to do with its results."""

    query: str
    label: str
    count: int
    min_size: int | None = None
    size: int | None = None


def _positive_int(value: Any, field: str, where: str, *, optional: bool) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise KeywordFileError(f"{where}: '{field}' is required")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise KeywordFileError(f"{where}: '{field}' must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise KeywordFileError(f"{where}: '{field}' must be a positive integer, got {number}")
    return number


def parse_row(row: dict[str, Any], where: str) -> Keyword:
    """Validate one row (a mapping of the fields above); ``where`` prefixes error messages."""
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        raise KeywordFileError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; allowed: {', '.join(FIELDS)}")
    query = str(row.get("query") or "").strip()
    if not query:
        raise KeywordFileError(f"{where}: 'query' is required")
    try:
        label = check_label(str(row.get("label") or ""))
    except ValueError as error:
        raise KeywordFileError(f"{where}: {error}") from None
    return Keyword(
        query=query,
        label=label,
        count=_positive_int(row.get("count"), "count", where, optional=False),
        min_size=_positive_int(row.get("min_size"), "min_size", where, optional=True),
        size=_positive_int(row.get("size"), "size", where, optional=True),
    )


def _check_unique(keywords: Iterable[tuple[str, Keyword]]) -> None:
    seen: dict[str, str] = {}
    for where, keyword in keywords:
        key = keyword.query.casefold()
        if key in seen:
            raise KeywordFileError(f"{where}: query {keyword.query!r} repeats {seen[key]}; each query may appear once")
        seen[key] = where


def _rows_from_csv(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "query" not in [name.strip() for name in reader.fieldnames]:
            raise KeywordFileError(f"{path}: the first line must be a header such as: {','.join(FIELDS)}")
        rows = []
        for row in reader:
            cleaned = {str(k).strip(): v for k, v in row.items() if k is not None}
            if None in row:
                raise KeywordFileError(f"{path} line {reader.line_num}: more cells than header columns")
            if all(not (v or "").strip() for v in cleaned.values()):
                continue
            rows.append((f"{path} line {reader.line_num}", cleaned))
        return rows


def _rows_from_yaml(path: Path) -> list[tuple[str, dict[str, Any]]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise KeywordFileError(f"{path}: not valid YAML ({error})") from None
    defaults: dict[str, Any] = {}
    if isinstance(document, dict):
        defaults = document.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise KeywordFileError(f"{path}: 'defaults' must be a mapping")
        document = document.get("queries")
    if not isinstance(document, list):
        raise KeywordFileError(f"{path}: expected a list of rows, or a mapping with a 'queries' list")
    rows = []
    for index, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise KeywordFileError(f"{path} query #{index}: expected a mapping like {{query: ..., label: ...}}")
        rows.append((f"{path} query #{index}", {**defaults, **item}))
    return rows


def load_keywords(path: str | Path) -> list[Keyword]:
    """Load and validate a ``.csv`` or ``.yaml``/``.yml`` keyword file."""
    path = Path(path)
    if not path.is_file():
        raise KeywordFileError(f"keyword file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _rows_from_csv(path)
    elif suffix in (".yaml", ".yml"):
        rows = _rows_from_yaml(path)
    else:
        raise KeywordFileError(f"{path}: use a .csv, .yaml or .yml keyword file")
    parsed = [(where, parse_row(row, where)) for where, row in rows]
    if not parsed:
        raise KeywordFileError(f"{path}: no queries found")
    _check_unique(parsed)
    return [keyword for _, keyword in parsed]
