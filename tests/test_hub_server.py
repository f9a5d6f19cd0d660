"""The loopback Hub speaks enough of the protocol for the real huggingface_hub client."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid

import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from tests.fakes.hub import git_blob_sha


def fresh_repo(api: HfApi, repo_type: str = "model") -> str:
    repo_id = f"alice/test-{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, repo_type=repo_type, **({"space_sdk": "gradio"} if repo_type == "space" else {}))
    return repo_id


def http(url: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_upload_mode_is_decided_like_the_hub(hub):
    api = HfApi()
    repo_id = fresh_repo(api)
    api.upload_file(path_or_fileobj=b"*.weird filter=lfs diff=lfs merge=lfs -text\n", path_in_repo=".gitattributes",
                    repo_id=repo_id)
    files = {
        "notes.txt": b"plain text\n",
        "blob.dat": b"\x00\x01binary",
        "big.txt": b"a" * (10 * 1024 * 1024),
        "data.weird": b"text, but .gitattributes says LFS",
    }
    for path, content in files.items():
        api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo_id)
    stored = hub.repo(repo_id).commits[hub.repo(repo_id).head]
    assert {path: stored[path].lfs for path in files} == {
        "notes.txt": False, "blob.dat": True, "big.txt": True, "data.weird": True,
    }
    assert hub.files(repo_id)["big.txt"] == files["big.txt"]


def test_resolve_headers_and_range(hub):
    api = HfApi()
    repo_id = fresh_repo(api)
    api.upload_file(path_or_fileobj=b"hello world", path_in_repo="a.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"\x00" * 100, path_in_repo="w.bin", repo_id=repo_id)
    head = hub.repo(repo_id).head

    status, headers, body = http(f"{hub.url}/{repo_id}/resolve/main/a.txt", headers={"Range": "bytes=6-"})
    assert (status, body, headers["Content-Range"]) == (206, b"world", "bytes 6-10/11")
    assert headers["X-Repo-Commit"] == head
    assert headers["ETag"] == f'"{git_blob_sha(b"hello world")}"'

    status, headers, _ = http(f"{hub.url}/{repo_id}/resolve/main/w.bin", method="HEAD")
    assert status == 200 and headers["X-Linked-Size"] == "100" and headers["X-Linked-Etag"] == headers["ETag"]

    assert open(hf_hub_download(repo_id, "a.txt"), "rb").read() == b"hello world"


def test_tree_listing_and_deletion(hub):
    api = HfApi()
    repo_id = fresh_repo(api, "dataset")
    api.upload_file(path_or_fileobj=b"x", path_in_repo="data/train/part.txt", repo_id=repo_id, repo_type="dataset")
    top = {entry.path for entry in api.list_repo_tree(repo_id, repo_type="dataset")}
    assert top == {".gitattributes", "data"}
    every = {entry.path for entry in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True)}
    assert every == {".gitattributes", "data", "data/train", "data/train/part.txt"}
    api.delete_file("data/train/part.txt", repo_id=repo_id, repo_type="dataset")
    assert api.list_repo_files(repo_id, repo_type="dataset") == [".gitattributes"]
    api.delete_repo(repo_id, repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_id)


def test_error_codes(hub):
    api = HfApi()
    repo_id = fresh_repo(api)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/never-created")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="0" * 40)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "missing.json")
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id  # 409 carries the URL


def test_space_repo_and_variables(hub):
    api = HfApi()
    repo_id = fresh_repo(api, "space")
    api.add_space_variable(repo_id, "MODEL_ID", "alice/model")
    assert api.get_space_variables(repo_id)["MODEL_ID"].value == "alice/model"
    assert api.space_info(repo_id).sdk == "gradio"


def test_tokens_required_mode(hub):
    with hub.tokens_required({"hf_alicetoken": ["alice", "alice-org"]}):
        assert HfApi(token="hf_alicetoken").whoami()["name"] == "alice"
        repo_id = HfApi(token="hf_alicetoken").create_repo("alice-org/private-thing", private=True).repo_id
        with pytest.raises(RepositoryNotFoundError):  # anonymous: 401 + RepoNotFound, like the Hub
            HfApi(token=False).model_info(repo_id)
        status, headers, _ = http(f"{hub.url}/api/models/{repo_id}", headers={"Authorization": "Bearer hf_nope"})
        assert status == 401 and headers["X-Error-Message"] == "Invalid credentials in Authorization header"
    assert HfApi(token=False).model_info(repo_id).private is True  # open mode again: anyone reads
