"""The Space through its public doors: gradio_client against the app served on 127.0.0.1 with a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from cleanmessy.feedback import read_feedback_records
from cleanmessy.settings import DEFAULT_UNSURE_THRESHOLD
from tests.helpers import ROOT_DIR, free_port, write_image_folder
from tests.space_helpers import running_space, upload_files

MAX_FILE_BYTES = 400_000  # small, so the "too large" file is small too


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feedback")


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict[str, Path]:
    return upload_files(tmp_path_factory.mktemp("uploads"))


@pytest.fixture(scope="module")
def space(tiny_model_dir, feedback_dir):
    with running_space(tiny_model_dir, feedback_dir, max_file_bytes=MAX_FILE_BYTES) as (url, service):
        yield url, service


@pytest.fixture(scope="module")
def client(space) -> Client:
    return Client(space[0], verbose=False)


def assert_prediction(result: dict) -> None:
    assert result["label"] in {"clean", "messy"}
    assert set(result["scores"]) == {"clean", "messy"}
    assert sum(result["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["confidence"] == max(result["scores"].values())
    assert result["unsure"] == (result["confidence"] < DEFAULT_UNSURE_THRESHOLD)


def test_api_page_lists_predict_and_batch(client):
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert {"/predict", "/predict_batch"} <= set(endpoints)
    assert [p["python_type"]["type"] for p in endpoints["/predict"]["parameters"]] == ["filepath"]


def test_predict_returns_json_verdict_matching_the_core(client, space, uploads):
    result = client.predict(handle_file(uploads["room.jpg"]), api_name="/predict")
    assert_prediction(result)
    expected = space[1].predictor.predict(uploads["room.jpg"])
    assert result["label"] == expected.label
    assert result["confidence"] == pytest.approx(expected.confidence, abs=1e-4)


@pytest.mark.parametrize("name", ["room.webp", "animated.gif", "cmyk.jpg", "sixteen-bit.png"])
def test_unusual_but_valid_formats_work(client, uploads, name):
    assert_prediction(client.predict(handle_file(uploads[name]), api_name="/predict"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("notes.jpg", "this file is not an image"),
        ("truncated.jpg", "damaged or truncated"),
        ("header-cut.jpg", "damaged or truncated"),
        ("empty.jpg", "empty (0 bytes)"),
        ("photo.heic", "HEIC/AVIF photos are not supported"),
        ("huge.png", "image too large: 48 MP, limit 40 MP"),
        ("tiny.png", "image too small"),
    ],
)
def test_bad_files_get_the_core_message_not_a_trace(client, uploads, name, message):
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(uploads[name]), api_name="/predict")
    text = str(caught.value)
    assert message in text
    assert "Traceback" not in text and "File \"" not in text


def test_file_over_max_file_size_is_refused(space, client, tmp_path):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + os.urandom(MAX_FILE_BYTES + 1000))
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_FILE_BYTES} bytes"):
        client.predict(handle_file(big), api_name="/predict")  # gradio_client checks before uploading
    with big.open("rb") as handle:  # and the server refuses it from any other client
        response = httpx.post(f"{space[0]}gradio_api/upload", files={"files": ("big.jpg", handle)}, timeout=30)
    assert response.status_code == 413, response.text


def test_paths_outside_the_upload_folder_are_refused(client):
    # A FileData dict without gradio's marker is passed through as-is: the app must not open server paths.
    with pytest.raises(AppError, match="uploaded file"):
        client.predict({"path": str(ROOT_DIR / "tests" / "conftest.py")}, api_name="/predict")


def test_batch_answers_each_photo_and_reports_bad_ones(client, space, uploads):
    names = ["room.jpg", "notes.jpg", "cmyk.jpg"]
    results = client.predict([handle_file(uploads[n]) for n in names], api_name="/predict_batch")
    assert [r["file"] for r in results] == names
    assert_prediction(results[0])
    assert_prediction(results[2])
    assert "this file is not an image" in results[1]["error"] and "label" not in results[1]
    assert results[0]["label"] == space[1].predictor.predict(uploads["room.jpg"]).label


def test_batch_of_only_bad_files_is_an_error(client, uploads):
    with pytest.raises(AppError, match="notes.jpg: this file is not an image"):
        client.predict([handle_file(uploads["notes.jpg"])], api_name="/predict_batch")


def test_concurrent_requests_share_forward_passes(space, uploads):
    url, service = space
    before = len(service.batcher.batch_sizes)
    clients = [Client(url, verbose=False) for _ in range(8)]
    jobs = [c.submit(handle_file(uploads["room.jpg"]), api_name="/predict") for c in clients for _ in range(3)]
    results = [job.result(timeout=120) for job in jobs]
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1
    sizes = service.batcher.batch_sizes[before:]
    assert sum(sizes) == 24
    assert max(sizes) > 1, sizes


def test_check_then_feedback_stores_the_photo_with_the_corrected_label(client, feedback_dir, uploads):
    headline, meter, overlay, thanks = client.predict(handle_file(uploads["room.jpg"]), api_name="/check")
    assert headline.startswith("## ") and ("sure" in headline or "Hard to say" in headline)
    assert {c["label"] for c in meter["confidences"]} == {"clean", "messy"}
    assert Path(overlay).is_file()
    predicted = meter["label"]
    message = client.predict(api_name="/feedback_wrong")
    corrected = "clean" if predicted == "messy" else "messy"
    assert f"Saved as **{corrected}**" in message
    records = read_feedback_records(feedback_dir)
    record = records[-1]
    assert record["label"] == corrected and record["predicted"] == predicted
    assert record["model_was_right"] is False and record["source"] == "space"
    assert (feedback_dir / record["file"]).is_file()
    assert set(record) == {"file", "sha256", "label", "predicted", "confidence", "model_was_right", "source", "time"}


def test_feedback_before_any_photo_is_a_clear_error(space):
    with pytest.raises(AppError, match="Check a photo first"):
        Client(space[0], verbose=False).predict(api_name="/feedback_right")


def test_app_script_serves_with_flags_and_prints_the_url(tiny_model_dir, tmp_path):
    """`python space/app.py --host --port` as `make demo` runs it: model from MODEL_ID, examples from EXAMPLES_DIR."""
    port = free_port()
    env = {**os.environ, "MODEL_ID": str(tiny_model_dir), "HF_HUB_OFFLINE": "1", "TORCH_THREADS": "1",
           "EXAMPLES_DIR": str(write_image_folder(tmp_path / "rooms", per_class=2) / "validation"),
           "FEEDBACK_DIR": str(tmp_path / "feedback")}
    process = subprocess.Popen([sys.executable, "space/app.py", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, lines = time.monotonic() + 120, []
        while time.monotonic() < deadline and process.poll() is None:
            lines.append(process.stdout.readline())
            if lines[-1].startswith("==>"):
                break
        assert lines and lines[-1].startswith("==>"), "".join(lines)
        assert f"http://127.0.0.1:{port}/" in lines[-1] and "4 examples" in lines[-1]
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            handle_file(write_image_folder(tmp_path / "more", per_class=1) / "train" / "messy" / "messy-0.png"),
            api_name="/predict")
        assert_prediction(result)
    finally:
        process.terminate()
        process.wait(timeout=30)
