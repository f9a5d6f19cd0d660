"""Write one benchmark's results into its own section of BENCHMARKS.md, leaving the others alone."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEach section is rewritten by the command it names; numbers are never typed in by hand.\n"


def machine() -> str:
    """CPU model, core count and memory of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}"


def git_commit() -> str:
    """Short hash of the checked-out commit, or 'unknown'."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_section(name: str, title: str, command: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section ``name`` with ``body``, stamped with machine, date, commit and command."""
    stamp = (
        f"- machine: {machine()}\n- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f" (commit {git_commit()})\n- command: `{command}`\n"
    )
    section = f"<!-- bench:{name} -->\n## {title}\n\n{stamp}\n{body.strip()}\n<!-- /bench:{name} -->\n"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text)
