"""A deployed Space, installed the way the Space builder installs it, and booted the way it boots.

The Space runtime installs ``gradio==<sdk_version>`` and the Space's ``requirements.txt`` into a
fresh environment, then runs ``python <app_file>`` from the Space's files. These helpers do the same
on this machine (a ``venv`` under a temporary folder, ``pip`` from the configured registries and
pip's cache), for ``tests/test_space_install.py`` and ``bench/space_cold.py``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import yaml

from tests.helpers import free_port


def front_matter(readme: Path) -> dict:
    """The YAML block at the top of a Space's README."""
    return yaml.safe_load(readme.read_text("utf-8").split("---")[1])


def pypi_reachable(timeout: float = 3.0) -> bool:
    """Whether pypi.org answers on port 443 (the install needs the package registry)."""
    try:
        with socket.create_connection(("pypi.org", 443), timeout=timeout):
            return True
    except OSError:
        return False


def install_space(checkout: Path, venv: Path, *, pip_args: tuple[str, ...] = ()) -> tuple[Path, float]:
    """A fresh venv at ``venv`` with the Space's gradio and requirements; returns its python and the seconds taken."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    gradio = f"gradio=={front_matter(checkout / 'README.md')['sdk_version']}"
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *pip_args,
         gradio, "-r", str(checkout / "requirements.txt")],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"pip could not install the Space:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return python, time.perf_counter() - started


def has_module(python: Path, name: str) -> bool:
    """Whether ``name`` is importable by ``python``."""
    code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({name!r}) else 1)"
    return subprocess.run([str(python), "-c", code]).returncode == 0


def tree_size(path: Path) -> int:
    """Bytes of every regular file under ``path`` (links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@contextlib.contextmanager
def running_space(python: Path, checkout: Path, env: dict[str, str], log: Path,
                  timeout: float = 300) -> Iterator[tuple[str, float, int]]:
    """Run ``python space/app.py`` in ``checkout``; yield its URL, the seconds until it served its page, its pid."""
    port = free_port()
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen([str(python), "space/app.py", "--host", "127.0.0.1", "--port", str(port)],
                                   cwd=checkout, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = started + timeout
        while True:
            assert process.poll() is None, f"the Space exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(url, timeout=5):
                    break
            except OSError:
                if time.perf_counter() > deadline:
                    raise AssertionError(f"the Space did not serve within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.05)
        yield url, time.perf_counter() - started, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def space_env(home: Path, hub_url: str, variables: dict[str, str]) -> dict[str, str]:
    """The environment a Space process gets: its variables, an empty Hub cache, the (loopback) Hub."""
    return {"PATH": os.environ["PATH"], "HOME": str(home), "HF_HOME": str(home / "hf"), "HF_ENDPOINT": hub_url,
            "HF_HUB_DISABLE_XET": "1", "GRADIO_ANALYTICS_ENABLED": "False", **variables}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
