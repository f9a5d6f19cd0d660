"""A small in-memory Hugging Face Hub that the real, unpatched clients can talk to.

Start it, point ``HF_ENDPOINT`` at it *before* importing ``huggingface_hub``, ``datasets`` or
``transformers`` (they copy the endpoint at import), and set ``HF_HUB_DISABLE_XET=1``::

    hub = HubServer().start()            # 127.0.0.1, a free port, a daemon thread
    os.environ["HF_ENDPOINT"] = hub.url

Client calls it supports (huggingface_hub 2.4 / datasets 5.2 / transformers 5.24):

- ``whoami``; ``create_repo`` (model, dataset, space; ``exist_ok``; ``private``; ``space_sdk``;
  ``space_variables``); ``delete_repo``; ``repo_info`` / ``model_info`` / ``dataset_info`` /
  ``space_info`` (optionally at a revision); ``list_repo_tree`` / ``list_repo_files``;
  ``get_paths_info``; ``add_space_variable`` / ``get_space_variables``.
- Uploads: ``upload_file``, ``upload_folder``, ``create_commit`` (regular and LFS files,
  deletions), ``preupload_lfs_files`` and the LFS batch / PUT / verify protocol. The upload
  mode is decided like the Hub: LFS for files of 10 MB or more, binary samples, and paths
  matching a ``filter=lfs`` pattern of the repo's ``.gitattributes``.
- Downloads: ``hf_hub_download``, ``snapshot_download``, ``HfFileSystem`` and everything built
  on them (``from_pretrained``, ``pipeline``, ``load_dataset``, ``Dataset.push_to_hub``):
  ``HEAD``/``GET .../resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``,
  ``X-Linked-Size``, and ``Range`` requests answered with 206.
- Errors carry the Hub's codes: ``X-Error-Code`` ``RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound`` on 404, 401 for missing or invalid credentials, 403 for a namespace the
  token does not own, 409 with ``url`` for an existing repo.

Auth: by default anyone may read and write. ``with hub.tokens_required({token: [namespaces]})``
makes every request need ``Authorization: Bearer <token>`` from that table; a token may
write only in the namespaces listed for it (the first one is its user name).

- Tags: ``create_tag`` (409 for an existing tag), ``list_repo_refs`` (``main`` and the tags).

Revisions are ``main``, a tag, or any commit sha the server handed out; other branches, PRs and
Xet are not modelled. Everything lives in memory and disappears with the process.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import functools
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

LFS_THRESHOLD = 10 * 1024 * 1024
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.bin", "*.safetensors", "*.onnx", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.npy", "*.npz",
        "*.pkl", "*.pickle", "*.parquet", "*.arrow", "*.zip", "*.gz", "*.tar", "*.zst", "*tfevents*",
    )
)


class HubError(Exception):
    """An HTTP error answer: status, message and the optional ``X-Error-Code``."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


def git_blob_sha(data: bytes) -> str:
    """The git object id of a blob, which the Hub uses as the ETag of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_binary(sample: bytes) -> bool:
    """The Hub's test on the first 512 bytes: NUL bytes or invalid UTF-8 mean binary."""
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:  # a multi-byte character cut at the end of the sample is still text
        return error.start < len(sample) - 3
    return False


def lfs_patterns(gitattributes: bytes | None) -> list[str]:
    """Patterns marked ``filter=lfs`` in a ``.gitattributes`` file."""
    lines = (gitattributes or b"").decode("utf-8", "replace").splitlines()
    return [line.split()[0] for line in lines if line.strip() and "filter=lfs" in line.split()[1:]]


@dataclass(frozen=True, eq=False)
class StoredFile:
    """One file of one commit; LFS files keep their bytes in the server's LFS store."""

    data: bytes
    lfs: bool

    @functools.cached_property
    def blob_id(self) -> str:
        """The git blob sha: the ETag of regular files, the ``oid`` in tree listings."""
        return git_blob_sha(self.data)

    @functools.cached_property
    def oid(self) -> str:
        """What ``preupload`` compares: sha256 for LFS files, the git blob sha otherwise."""
        return hashlib.sha256(self.data).hexdigest() if self.lfs else self.blob_id

    def tree_entry(self, path: str) -> dict:
        entry = {"type": "file", "path": path, "size": len(self.data), "oid": self.blob_id}
        if self.lfs:
            entry["lfs"] = {"oid": self.oid, "size": len(self.data), "pointerSize": 134}
        return entry


@dataclass
class Repo:
    """A repository: its commits (sha -> files) and the sha that ``main`` points to."""

    type: str
    id: str
    private: bool
    sdk: str | None = None
    commits: dict[str, dict[str, StoredFile]] = field(default_factory=dict)
    head: str = ""
    variables: dict[str, dict] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> commit sha

    def commit(self, files: dict[str, StoredFile]) -> str:
        sha = hashlib.sha1(f"{self.id}:{len(self.commits)}:{time.time_ns()}".encode()).hexdigest()
        self.commits[sha] = files
        self.head = sha
        return sha

    def resolve(self, revision: str) -> tuple[str, dict[str, StoredFile]]:
        sha = self.head if revision in ("main", "HEAD") else self.tags.get(revision, revision)
        if sha not in self.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha, self.commits[sha]

    @property
    def url_path(self) -> str:
        return URL_PREFIX[self.type] + self.id


class HubServer(ThreadingHTTPServer):
    """The fake Hub. ``start()`` serves it from a daemon thread; ``url`` is its endpoint."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.url = f"http://{host}:{self.server_address[1]}"
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_store: dict[str, bytes] = {}
        self.tokens: dict[str, list[str]] | None = None  # None: no token required
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()

    def start(self) -> "HubServer":
        threading.Thread(target=self.serve_forever, name="fake-hub", daemon=True).start()
        return self

    @contextlib.contextmanager
    def tokens_required(self, tokens: dict[str, list[str]]) -> Iterator["HubServer"]:
        """Within the block, every request needs one of ``tokens``, which maps token -> owned namespaces."""
        previous, self.tokens = self.tokens, dict(tokens)
        try:
            yield self
        finally:
            self.tokens = previous

    def reset(self) -> None:
        """Forget every repo, LFS object and logged request."""
        with self.lock:
            self.repos.clear()
            self.lfs_store.clear()
            self.requests.clear()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        """The stored repo, for assertions in tests."""
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """``{path: content}`` of a repo's ``main``, for assertions in tests."""
        repo = self.repo(repo_id, repo_type)
        return {path: stored.data for path, stored in repo.commits[repo.head].items()}


class _Handler(BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"

    ROUTES = [  # (method, pattern, handler name); patterns match the raw (still quoted) path
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", "info"),
        ("GET", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("POST", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/tag/(?P<rev>[^/]+)", "create_tag"),
        ("GET", r"/api/(?P<kind>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/refs", "refs"),
        ("GET", r"/api/spaces/(?P<repo>[^/]+/[^/]+)/variables", "get_variables"),
        ("POST", r"/api/spaces/(?P<repo>[^/]+/[^/]+)/variables", "add_variable"),
        ("POST", r"/(?P<prefix>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs/upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
        ("POST", r"/lfs/verify/(?P<oid>[0-9a-f]{64})", "lfs_verify"),
        ("GET", r"/(?P<prefix>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", r"/(?P<prefix>datasets/|spaces/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]

    def log_message(self, format: str, *args) -> None:  # keep test output quiet
        pass

    # -- plumbing -------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.server.requests.append((method, url.path))
        try:
            self._body = self._read_body()
            for route_method, pattern, name in self.ROUTES:
                match = re.fullmatch(pattern, url.path)
                if route_method == method and match:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    with self.server.lock:
                        getattr(self, name)(**params)
                    return
            raise HubError(404, f"no route for {method} {url.path}")
        except HubError as error:
            self._send_error(error)
        except Exception as error:  # a bug in the fake: answer 500 with the reason instead of dropping the connection
            self._send_error(HubError(500, f"fake Hub failed on {method} {url.path}: {error!r}"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json_body(self) -> dict:
        return json.loads(self._body or b"{}")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, payload, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode())

    def _send_error(self, error: HubError) -> None:
        headers = {"X-Error-Message": error.message}
        if error.code:
            headers["X-Error-Code"] = error.code
        self._send(error.status, json.dumps({"error": error.message, **error.extra}).encode(), headers)

    # -- auth and lookup --------------------------------------------------------------------------

    def _namespaces(self) -> list[str] | None:
        """Namespaces the caller may write to; ``None`` means anyone (no token table set)."""
        tokens = self.server.tokens
        if tokens is None:
            return None
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return []
        if auth[len("Bearer "):] not in tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return tokens[auth[len("Bearer "):]]

    def _require_login(self) -> list[str] | None:
        namespaces = self._namespaces()
        if namespaces == []:
            raise HubError(401, "You must be authenticated to access this resource")
        return namespaces

    def _repo(self, repo_type: str, repo_id: str, *, write: bool = False) -> Repo:
        namespaces = self._namespaces()
        repo = self.server.repos.get((repo_type, repo_id))
        owner = repo_id.split("/")[0]
        readable = repo is not None and (namespaces is None or not repo.private or owner in namespaces)
        if not readable:  # like the Hub: 401 when anonymous, 404 otherwise, both "RepoNotFound"
            status = 401 if namespaces == [] else 404
            raise HubError(status, f"Repository Not Found for {repo_type} {repo_id}", "RepoNotFound")
        if write and namespaces is not None and owner not in namespaces:
            raise HubError(403, f"You don't have the rights to write to {repo_id}. Check your token's namespace.")
        return repo

    def _kind_repo(self, kind: str, repo: str, *, write: bool = False) -> Repo:
        return self._repo(REPO_TYPES[kind], repo, write=write)

    def _prefix_repo(self, prefix: str | None, repo: str, *, write: bool = False) -> Repo:
        return self._repo({None: "model", "datasets/": "dataset", "spaces/": "space"}[prefix], repo, write=write)

    # -- account and repos ------------------------------------------------------------------------

    def whoami(self) -> None:
        namespaces = self._require_login() or ["anonymous"]
        self._send_json(
            {
                "type": "user",
                "name": namespaces[0],
                "orgs": [{"type": "org", "name": name} for name in namespaces[1:]],
                "auth": {"type": "access_token", "accessToken": {"displayName": "fake", "role": "write"}},
            }
        )

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.server.url}/{repo.url_path}"

    def create_repo(self) -> None:
        body = self._json_body()
        namespaces = self._require_login()
        owner = body.get("organization") or (namespaces or ["anonymous"])[0]
        repo_type, repo_id = body.get("type") or "model", f"{owner}/{body['name']}"
        if namespaces is not None and owner not in namespaces:
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{owner}"')
        existing = self.server.repos.get((repo_type, repo_id))
        if existing is not None:
            raise HubError(409, f"You already created this {repo_type} repo", url=self._repo_url(existing))
        if repo_type == "space" and not body.get("sdk"):
            raise HubError(400, "sdk is required for a space")
        private = body.get("visibility") == "private" or bool(body.get("private"))
        repo = Repo(type=repo_type, id=repo_id, private=private, sdk=body.get("sdk"))
        for variable in body.get("variables") or []:
            repo.variables[variable["key"]] = {"value": variable["value"], "description": variable.get("description")}
        repo.commit({".gitattributes": StoredFile(DEFAULT_GITATTRIBUTES.encode(), lfs=False)})
        self.server.repos[(repo_type, repo_id)] = repo
        self._send_json({"url": self._repo_url(repo), "name": repo_id, "id": repo_id})

    def delete_repo(self) -> None:
        body = self._json_body()
        namespaces = self._require_login()
        owner = body.get("organization") or (namespaces or ["anonymous"])[0]
        repo = self._repo(body.get("type") or "model", f"{owner}/{body['name']}", write=True)
        del self.server.repos[(repo.type, repo.id)]
        self._send_json({})

    def validate_yaml(self) -> None:
        import yaml

        content = self._json_body().get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.S)
        try:
            metadata = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as error:
            self._send_json({"errors": [{"message": f"invalid YAML: {error}"}]}, status=400)
            return
        if metadata is not None and not isinstance(metadata, dict):
            self._send_json({"errors": [{"message": "metadata must be a YAML mapping"}]}, status=400)
            return
        self._send_json({"errors": [], "warnings": []})

    def info(self, kind: str, repo: str, rev: str = "main") -> None:
        stored = self._kind_repo(kind, repo)
        sha, files = stored.resolve(rev)
        siblings = []
        for path, entry in sorted(files.items()):
            sibling = {"rfilename": path, "size": len(entry.data), "blobId": entry.blob_id}
            if entry.lfs:
                sibling["lfs"] = {"sha256": entry.oid, "size": len(entry.data), "pointerSize": 134}
            siblings.append(sibling)
        payload = {
            "id": stored.id, "_id": stored.id, "author": stored.id.split("/")[0], "sha": sha,
            "private": stored.private, "disabled": False, "gated": False, "downloads": 0, "likes": 0,
            "tags": [], "lastModified": "2024-01-01T00:00:00.000Z", "siblings": siblings,
        }
        if stored.type == "space":
            payload.update(sdk=stored.sdk, runtime={"stage": "BUILDING", "hardware": {"current": None}})
        self._send_json(payload)

    # -- listing --------------------------------------------------------------------------------

    @staticmethod
    def _entries(files: dict[str, StoredFile], base: str, recursive: bool) -> list[dict]:
        """Tree entries under ``base`` (files and implied folders), like ``/tree``."""
        prefix = f"{base}/" if base else ""
        entries: dict[str, dict] = {}
        for path, stored in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, min(depth, len(parts) - 1) + 1):
                folder = prefix + "/".join(parts[:i])
                entries.setdefault(folder, {"type": "directory", "path": folder, "oid": git_blob_sha(folder.encode())})
            if recursive or len(parts) == 1:
                entries[path] = stored.tree_entry(path)
        return list(entries.values())

    def tree(self, kind: str, repo: str, rev: str, path: str = "") -> None:
        _, files = self._kind_repo(kind, repo).resolve(rev)
        path = path.strip("/")
        if path and path not in files and not any(name.startswith(path + "/") for name in files):
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
        recursive = self.query.get("recursive", "false").lower() in ("1", "true")
        self._send_json(self._entries(files, path, recursive))

    def paths_info(self, kind: str, repo: str, rev: str) -> None:
        _, files = self._kind_repo(kind, repo).resolve(rev)
        form = parse_qs(self._body.decode())
        result = []
        for path in form.get("paths", []):
            if path in files:
                result.append(files[path].tree_entry(path))
            elif any(name.startswith(path.rstrip("/") + "/") for name in files):
                result.append({"type": "directory", "path": path, "oid": git_blob_sha(path.encode())})
        self._send_json(result)

    # -- uploads --------------------------------------------------------------------------------

    def preupload(self, kind: str, repo: str, rev: str) -> None:
        stored = self._kind_repo(kind, repo, write=True)
        _, files = stored.resolve(rev)
        patterns = lfs_patterns(files[".gitattributes"].data if ".gitattributes" in files else None)
        answers = []
        for item in self._json_body().get("files", []):
            path, sample = item["path"], base64.b64decode(item.get("sample", ""))
            lfs = (
                item.get("size", 0) >= LFS_THRESHOLD
                or is_binary(sample)
                or any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)
            )
            existing = files.get(path)
            answers.append(
                {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                 "oid": existing.oid if existing else None}
            )
        self._send_json({"files": answers})

    def lfs_batch(self, repo: str, prefix: str | None = None) -> None:
        self._prefix_repo(prefix, repo, write=True)
        objects = []
        for item in self._json_body().get("objects", []):
            answer = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.server.lfs_store:
                answer["actions"] = {
                    "upload": {"href": f"{self.server.url}/lfs/upload/{item['oid']}"},
                    "verify": {"href": f"{self.server.url}/lfs/verify/{item['oid']}"},
                }
            objects.append(answer)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, oid: str) -> None:
        if hashlib.sha256(self._body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        self.server.lfs_store[oid] = self._body
        self._send(200)

    def lfs_verify(self, oid: str) -> None:
        if oid not in self.server.lfs_store:
            raise HubError(404, f"LFS object {oid} was never uploaded")
        self._send_json({"success": True})

    def commit(self, kind: str, repo: str, rev: str) -> None:
        stored = self._kind_repo(kind, repo, write=True)
        parent_sha, parent = stored.resolve(rev)
        files = dict(parent)
        lines = [json.loads(line) for line in self._body.splitlines() if line.strip()]
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header" and value.get("parentCommit") not in (None, parent_sha):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            elif key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                if value["oid"] not in self.server.lfs_store:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = StoredFile(self.server.lfs_store[value["oid"]], lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"{value['path']} does not exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: f for path, f in files.items() if not path.startswith(folder)}
        sha = stored.commit(files)
        self._send_json(
            {"commitUrl": f"{self._repo_url(stored)}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None,
             "success": True}
        )

    # -- tags -----------------------------------------------------------------------------------

    def create_tag(self, kind: str, repo: str, rev: str) -> None:
        stored = self._kind_repo(kind, repo, write=True)
        sha, _ = stored.resolve(unquote(rev))
        tag = self._json_body()["tag"]
        if tag in stored.tags:
            raise HubError(409, f"Tag {tag} already exists")
        stored.tags[tag] = sha
        self._send_json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": sha})

    def refs(self, kind: str, repo: str) -> None:
        stored = self._kind_repo(kind, repo)
        self._send_json({
            "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": stored.head}],
            "converts": [],
            "tags": [{"name": name, "ref": f"refs/tags/{name}", "targetCommit": sha} for name, sha in stored.tags.items()],
        })

    # -- spaces ---------------------------------------------------------------------------------

    def get_variables(self, repo: str) -> None:
        self._send_json(self._repo("space", repo, write=True).variables)

    def add_variable(self, repo: str) -> None:
        stored, body = self._repo("space", repo, write=True), self._json_body()
        stored.variables[body["key"]] = {"value": body["value"], "description": body.get("description"),
                                         "updatedAt": "2024-01-01T00:00:00.000Z"}
        self._send_json(stored.variables)

    # -- downloads ------------------------------------------------------------------------------

    def resolve(self, repo: str, rev: str, path: str, prefix: str | None = None) -> None:
        stored = self._prefix_repo(prefix, repo)
        sha, files = stored.resolve(rev)
        if path not in files:
            headers = {"X-Repo-Commit": sha, "X-Error-Code": "EntryNotFound",
                       "X-Error-Message": f"Entry not found: {path}"}
            self._send(404, json.dumps({"error": "Entry not found"}).encode(), headers)
            return
        entry = files[path]
        data = entry.data
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "X-Repo-Commit": sha,
                   "ETag": f'"{entry.blob_id}"'}
        if entry.lfs:
            headers.update({"ETag": f'"{entry.oid}"', "X-Linked-Etag": f'"{entry.oid}"', "X-Linked-Size": str(len(data))})
        status, body = 200, data
        byte_range = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if byte_range and data:
            first, last = byte_range.groups()
            start = int(first) if first else max(len(data) - int(last or 0), 0)
            end = min(int(last), len(data) - 1) if first and last else len(data) - 1
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status, body = 206, data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._send(status, body, headers)


__all__ = ["HubError", "HubServer", "git_blob_sha"]
