"""Batch classification of a whole dataset: datasets.map over worker processes, resumable parquet output."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleanmessy.batch import SCHEMA, BatchError, Job, main, result_row, run_batch
from cleanmessy.predictor import Predictor
from tests.helpers import write_image_folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A local image folder (4 clean + 4 messy in train) with one damaged file among the photos."""
    root = write_image_folder(tmp_path_factory.mktemp("photos"), per_class=4, splits=("train",))
    (root / "train" / "messy" / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


def _rows(path) -> list[dict]:
    return pq.read_table(path).to_pylist()


def test_two_processes_classify_every_photo_like_the_predictor(photos, exported_model_dir, tmp_path) -> None:
    model = exported_model_dir
    table = run_batch(str(photos), tmp_path / "results.parquet", model=str(model), num_proc=2, batch_size=3)
    rows = _rows(tmp_path / "results.parquet")
    assert table.num_rows == len(rows) == 9
    assert [row["index"] for row in rows] == list(range(9))
    assert len({row["id"] for row in rows}) == 9
    damaged = [row for row in rows if row["path"].endswith("damaged.png")]
    assert len(damaged) == 1 and damaged[0]["label"] is None and "image" in damaged[0]["error"]
    predictor = Predictor.load(str(model))
    for row in rows:
        if row["error"] is None:
            verdict = predictor.predict(row["path"])
            assert row["label"] == verdict.label
            assert row["confidence"] == pytest.approx(verdict.confidence, abs=5e-3)  # int8 scales are per batch
            assert row["not_a_room"] in (True, False)
    assert not (tmp_path / "results.parquet.parts").exists()


def test_a_rerun_resumes_from_the_parts_an_interrupted_run_left(photos, exported_model_dir, tmp_path) -> None:
    out = tmp_path / "results.parquet"
    job = Job(model=str(exported_model_dir), split="train", out=out, threads=1)
    job.parts.mkdir()
    # What an interrupted run leaves: finished parts for rows 0-2. A marker label proves they are kept, not redone.
    kept = [result_row(f"train/{i}", i, None, BatchError("marker")) for i in range(3)]
    pq.write_table(pa.Table.from_pylist(kept, schema=SCHEMA), job.parts / "part-0000000000-done.parquet")
    assert main(["--dataset", str(photos), "--out", str(out), "--model", str(job.model), "--batch-size", "4"]) == 0
    rows = _rows(out)
    assert [row["index"] for row in rows] == list(range(9))
    assert [row["error"] for row in rows[:3]] == ["marker"] * 3
    assert all(row["label"] in ("clean", "messy") for row in rows[3:] if not row["path"].endswith("damaged.png"))


def test_streamed_hub_dataset_and_clear_errors(photos, exported_model_dir, hub, tmp_path, capsys) -> None:
    from scraper.push import push_dataset

    push_dataset(write_image_folder(tmp_path / "pushed", per_class=4), "alice/batch-photos", num_shards=2)
    shards = sorted(path for path in hub.files("alice/batch-photos", "dataset") if path.startswith("data/train-"))
    assert len(shards) == 2 and all(path.endswith("-of-00002.parquet") for path in shards), shards
    out = tmp_path / "streamed.parquet"
    assert main(["--dataset", "alice/batch-photos", "--split", "train", "--out", str(out),
                 "--model", str(exported_model_dir), "--streaming"]) == 0
    rows = _rows(out)
    assert len(rows) == 8 and {row["label"] for row in rows} <= {"clean", "messy"}
    assert main(["--dataset", str(photos), "--out", str(tmp_path / "r.csv")]) == 2
    assert "must end in .parquet" in capsys.readouterr().err


def test_clean_or_messy_predict_dataset_runs_the_batch_job(photos, exported_model_dir, tmp_path, capsys) -> None:
    from cleanmessy.cli import main as cli

    out = tmp_path / "cli.parquet"
    assert cli(["predict", "--dataset", str(photos), "--out", str(out), "--model", str(exported_model_dir)]) == 0
    assert len(_rows(out)) == 9
    assert "errors             1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli(["predict", "--dataset", str(photos)])  # no --out
