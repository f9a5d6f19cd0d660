"""The settings layer: the only reader of the environment, the source of the flags and of the README table."""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass

import pytest

from cleanmessy import settings
from cleanmessy.settings import SettingError, env_field
from tests.helpers import ROOT_DIR

ENVIRONMENT_ACCESS = re.compile(r"\bos\.environ\b|\bgetenv\b|\bputenv\b|\bunsetenv\b|from os import[^\n]*\benviron\b")

ALLOWED = {"cleanmessy/settings.py"}
"""Where the environment may be read or written outside tests/ (which set it up for the code under test)."""


def _python_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                            cwd=ROOT_DIR, capture_output=True, text=True, check=True).stdout.split()
    return [path for path in listed if (ROOT_DIR / path).is_file()]


def test_only_the_settings_module_touches_the_environment() -> None:
    offenders = [
        f"{path}:{number}: {line.strip()}"
        for path in _python_files() if not path.startswith("tests/") and path not in ALLOWED
        for number, line in enumerate((ROOT_DIR / path).read_text(encoding="utf-8").splitlines(), 1)
        if ENVIRONMENT_ACCESS.search(line)
    ]
    assert offenders == [], "read settings through cleanmessy.settings:\n" + "\n".join(offenders)


def test_the_readme_table_is_the_one_the_code_declares() -> None:
    readme = (ROOT_DIR / "README.md").read_text(encoding="utf-8")
    assert settings.markdown_table() in readme, "paste `clean-or-messy settings` (python -m cleanmessy.cli settings) into README.md's Configuration"
    documented = re.findall(r"^\| `([A-Z_]+)` \|", readme, re.M)
    assert documented == list(settings.VARIABLES)


def test_values_are_parsed_checked_and_defaulted(monkeypatch) -> None:
    monkeypatch.delenv("MAX_BATCH", raising=False)
    assert settings.get("MAX_BATCH") == 16
    monkeypatch.setenv("MAX_BATCH", "")
    assert settings.get("MAX_BATCH") == 16  # empty counts as unset
    monkeypatch.setenv("MAX_BATCH", "3")
    assert settings.get("MAX_BATCH") == 3
    monkeypatch.setenv("MAX_BATCH", "0")
    with pytest.raises(SettingError, match="MAX_BATCH must be at least 1, got 0"):
        settings.get("MAX_BATCH")
    monkeypatch.setenv("UNSURE_THRESHOLD", "0.3")
    with pytest.raises(ValueError, match="UNSURE_THRESHOLD must be between 0.5 and 1.0"):
        settings.unsure_threshold()
    assert settings.get("BOT_RATE_LIMIT", {"BOT_RATE_LIMIT": "5/30"}) == (5, 30.0)
    assert settings.get("HF_HUB_OFFLINE", {"HF_HUB_OFFLINE": "Yes"}) is True


def test_threads_default_to_the_cores_shared_by_concurrent_work(monkeypatch) -> None:
    monkeypatch.delenv("TORCH_THREADS", raising=False)
    monkeypatch.setattr(settings.os, "cpu_count", lambda: 8)
    assert (settings.threads(), settings.threads(concurrent=2), settings.threads(concurrent=16)) == (8, 4, 1)
    monkeypatch.setenv("TORCH_THREADS", "3")
    assert settings.threads(concurrent=2) == 3


@dataclass(frozen=True)
class Example:
    batch: int = env_field("MAX_BATCH")
    per_label: int = env_field("EXAMPLES_PER_LABEL")  # no flag: the variable has none


def test_flags_come_from_the_declarations_and_override_the_environment(monkeypatch) -> None:
    parser = argparse.ArgumentParser()
    settings.add_flags(parser, Example)
    assert "(env MAX_BATCH, default 16)" in " ".join(parser.format_help().split())
    assert "--per-label" not in parser.format_help()
    monkeypatch.setenv("MAX_BATCH", "7")
    monkeypatch.setenv("EXAMPLES_PER_LABEL", "2")
    assert settings.load(Example, parser.parse_args([])) == Example(batch=7, per_label=2)
    assert settings.load(Example, parser.parse_args(["--max-batch", "5"])) == Example(batch=5, per_label=2)
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-batch", "none"])  # the variable's own check, as a usage error
