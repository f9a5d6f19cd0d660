"""The Space's plain REST API (space/rest.py) over real HTTP on 127.0.0.1, with a tiny model."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.space_helpers import running_space, upload_files

MAX_FILE_BYTES = 400_000


@pytest.fixture(scope="module")
def uploads(tmp_path_factory) -> dict[str, Path]:
    return upload_files(tmp_path_factory.mktemp("uploads"))


@pytest.fixture(scope="module")
def space(tiny_model_dir, tmp_path_factory):
    with running_space(tiny_model_dir, tmp_path_factory.mktemp("feedback"), max_file_bytes=MAX_FILE_BYTES,
                       rest_rate_limit=(0, 60.0)) as (url, service):
        yield url, service


def assert_verdict(result: dict, expected) -> None:
    assert result == expected.to_dict()
    assert result["label"] in {"clean", "messy"}


def test_multipart_file_gets_the_predict_json(space, uploads):
    url, service = space
    response = httpx.post(f"{url}api/classify", files={"file": ("room.jpg", uploads["room.jpg"].read_bytes())})
    assert response.status_code == 200
    assert_verdict(response.json(), service.predictor.predict(uploads["room.jpg"]))


def test_curl_example_from_the_readme(space, uploads):
    result = subprocess.run(["curl", "-sS", "-F", f"file=@{uploads['room.webp']}", f"{space[0]}api/classify"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert '"label":' in result.stdout and '"unsure":' in result.stdout


def test_raw_image_body(space, uploads):
    url, service = space
    response = httpx.post(f"{url}api/classify", content=uploads["cmyk.jpg"].read_bytes(),
                          headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200
    assert_verdict(response.json(), service.predictor.predict(uploads["cmyk.jpg"]))


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("notes.jpg", 415, "this file is not an image"),
        ("photo.heic", 415, "HEIC/AVIF photos are not supported"),
        ("truncated.jpg", 422, "damaged or truncated"),
        ("empty.jpg", 422, "empty (0 bytes)"),
        ("tiny.png", 422, "image too small"),
        ("huge.png", 413, "image too large"),
    ],
)
def test_bad_photos_get_the_core_message(space, uploads, name, status, message):
    response = httpx.post(f"{space[0]}api/classify", files={"file": (name, uploads[name].read_bytes())})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_over_the_byte_limit_is_413_before_decoding(space):
    too_big = b"\xff\xd8" + bytes(MAX_FILE_BYTES)
    raw = httpx.post(f"{space[0]}api/classify", content=too_big, headers={"Content-Type": "image/jpeg"})
    part = httpx.post(f"{space[0]}api/classify", files={"file": ("big.jpg", too_big)})
    assert raw.status_code == part.status_code == 413
    assert "too large" in raw.json()["error"] and "too large" in part.json()["error"]


def test_wrong_content_type_and_missing_field(space):
    as_json = httpx.post(f"{space[0]}api/classify", json={"image": "room.jpg"})
    assert as_json.status_code == 415
    assert "multipart field 'file'" in as_json.json()["error"]
    wrong_field = httpx.post(f"{space[0]}api/classify", files={"photo": ("room.jpg", b"x")})
    assert wrong_field.status_code == 422
    assert "'file'" in wrong_field.json()["error"]


def test_batch_answers_each_photo_in_order_through_the_batcher(space, uploads):
    url, service = space
    before = len(service.batcher.batch_sizes)
    names = ["room.jpg", "notes.jpg", "room.webp", "animated.gif"]
    response = httpx.post(f"{url}api/classify/batch",
                          files=[("files", (name, uploads[name].read_bytes())) for name in names])
    assert response.status_code == 200
    results = response.json()
    assert [r["file"] for r in results] == names
    assert "not an image" in results[1]["error"]
    for name, result in zip(names[::2] + names[3:], [results[0], results[2], results[3]]):
        assert_verdict({k: v for k, v in result.items() if k != "file"}, service.predictor.predict(uploads[name]))
    assert service.batcher.batch_sizes[before:] == [3]  # the three good photos shared one forward pass


def test_every_error_is_json_with_an_error_field(space, uploads):
    too_many = [("files", (f"{i}.jpg", b"x")) for i in range(65)]
    response = httpx.post(f"{space[0]}api/classify/batch", files=too_many)
    assert response.status_code == 400 and "Too many files" in response.json()["error"]
    assert httpx.get(f"{space[0]}api/classify").status_code == 405
    assert "error" in httpx.get(f"{space[0]}api/nothing-here").json()


def test_health_names_model_revision_and_backend(space, tiny_model_dir):
    response = httpx.get(f"{space[0]}api/health")
    assert response.json() == {"status": "ok", "model": str(tiny_model_dir), "revision": None, "backend": "eager"}


def test_openapi_documents_both_routes(space):
    schema = httpx.get(f"{space[0]}api/openapi.json").json()
    classify = schema["paths"]["/classify"]["post"]
    assert set(classify["requestBody"]["content"]) == {"multipart/form-data", "image/*"}
    assert {"200", "413", "415", "422", "429"} <= set(classify["responses"])
    assert "get" in schema["paths"]["/health"]
    docs = httpx.get(f"{space[0]}api/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    assert httpx.get(space[0]).status_code == 200  # the Gradio page is still served at /


def test_rate_limit_per_client(tiny_model_dir, tmp_path, uploads):
    photo = uploads["room.jpg"].read_bytes()
    with running_space(tiny_model_dir, tmp_path, rest_rate_limit=(2, 60.0), mcp_server=False) as (url, _):
        codes = [httpx.post(f"{url}api/classify", files={"file": ("r.jpg", photo)}).status_code for _ in range(2)]
        refused = httpx.post(f"{url}api/classify", files={"file": ("r.jpg", photo)})
        other_client = httpx.post(f"{url}api/classify", files={"file": ("r.jpg", photo)},
                                  headers={"X-Forwarded-For": "203.0.113.7"})
    assert codes == [200, 200]
    assert refused.status_code == 429
    assert "rate limit: at most 2 photos per 60 s" in refused.json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert other_client.status_code == 200
