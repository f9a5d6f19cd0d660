"""The ``clean-or-messy`` command: files, folders and globs in; a table, JSON or CSV out."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cleanmessy.cli import expand, main
from cleanmessy.predictor import Predictor
from tests.helpers import ROOT_DIR


@pytest.fixture
def photos(tmp_path: Path, room_image) -> Path:
    """``rooms/`` with two good photos (one in a subfolder), a text file posing as a JPEG, and a README."""
    rooms = tmp_path / "rooms"
    (rooms / "more").mkdir(parents=True)
    room_image(messy=True, seed=1).save(rooms / "a.jpg")
    room_image(seed=2).save(rooms / "more" / "b.png")
    (rooms / "notes.jpg").write_text("not a photo")
    (rooms / "README.txt").write_text("ignored: not an image name")
    return rooms


def test_expand_reads_files_folders_and_globs_once_each(photos: Path) -> None:
    found = expand([str(photos), str(photos / "a.jpg"), str(photos / "**" / "*.png"), str(photos / "gone.jpg")])
    assert found == [photos / "a.jpg", photos / "more" / "b.png", photos / "notes.jpg", str(photos / "gone.jpg")]


def test_predict_prints_a_row_per_photo_and_a_summary(photos, tiny_model_dir, capsys) -> None:
    status = main(["predict", str(photos), "--model", str(tiny_model_dir)])
    out = capsys.readouterr().out
    verdicts = Predictor.load(tiny_model_dir).predict_batch([photos / "a.jpg", photos / "more" / "b.png"])
    lines = out.splitlines()
    assert lines[0].split() == ["photo", "verdict", "clean", "messy"]
    assert lines[1].startswith(str(photos / "a.jpg")) and verdicts[0].headline in lines[1]
    assert verdicts[1].headline in lines[2]
    assert "error: this file is not an image" in lines[3]
    assert lines[-1].startswith("3 photos:") and lines[-1].endswith("1 unreadable")
    assert status == 1  # one photo could not be read


def test_predict_json_and_csv_carry_the_same_verdicts(photos, tiny_model_dir, capsys) -> None:
    assert main(["predict", str(photos / "a.jpg"), "--json", "--model", str(tiny_model_dir)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    verdict = Predictor.load(tiny_model_dir).predict(photos / "a.jpg")
    assert row["photo"] == str(photos / "a.jpg") and row["label"] == verdict.label and row["error"] is None
    assert row["messy"] == pytest.approx(verdict.scores["messy"], abs=1e-4)

    main(["predict", str(photos / "notes.jpg"), str(photos / "a.jpg"), "--csv", "--model", str(tiny_model_dir)])
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["photo"] for r in table] == [str(photos / "notes.jpg"), str(photos / "a.jpg")]
    assert table[0]["error"].startswith("this file is not an image") and table[1]["label"] == verdict.label


def test_predict_without_a_model_says_so(tmp_path, photos, capsys) -> None:
    assert main(["predict", str(photos), "--model", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_the_module_runs_as_a_program(photos, tiny_model_dir) -> None:
    done = subprocess.run([sys.executable, "-m", "cleanmessy.cli", "predict", str(photos / "a.jpg"), "--json",
                           "--model", str(tiny_model_dir)], capture_output=True, text=True, cwd=ROOT_DIR, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["photo"] == str(photos / "a.jpg")


def test_settings_prints_the_variable_table(capsys) -> None:
    from cleanmessy.settings import markdown_table

    assert main(["settings"]) == 0
    assert capsys.readouterr().out == markdown_table()
