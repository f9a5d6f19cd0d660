"""`make demo` and `make train` without photos say, in plain words, what to do instead of failing obscurely."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import ROOT_DIR

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*arguments: str) -> subprocess.CompletedProcess:
    """``make`` in the repository, never (re)building the virtual environment or installing Chromium."""
    return subprocess.run(["make", "-s", "-o", "setup", "-o", ".venv/.installed", *arguments],
                          cwd=ROOT_DIR, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", ["demo", "train"])
def test_without_photos_it_names_the_three_ways_out(target, tmp_path) -> None:
    done = make(target, "MODEL_ID=", f"DATA={tmp_path / 'no-photos'}", f"MODEL_DIR={tmp_path / 'model'}")
    assert done.returncode == 2
    assert f"No photos to train on: {tmp_path / 'no-photos'} does not exist." in done.stderr
    for way in ("make demo DATA=", "make data && make demo", "needs the internet", "make demo MODEL_ID="):
        assert way in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "model").exists()


def test_demo_with_a_model_id_serves_it_without_training(tmp_path) -> None:
    plan = make("-n", "demo", "MODEL_ID=user/clean-or-messy", f"DATA={tmp_path / 'no-photos'}").stdout
    assert "MODEL_ID=user/clean-or-messy" in plan and "space/app.py" in plan
    assert "-m training" not in plan
