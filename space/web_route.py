"""Serve the in-browser page (``web/``) at ``/web/`` on the Gradio app, with the model it runs.

The page runs the model on the visitor's device with transformers.js. Everything it loads comes
from this origin:

- ``/web/``, ``/web/app.js``, ``/web/style.css``, ``/web/sw.js``: the page (``web/`` in this repository);
- ``/web/vendor/...``: the library and the onnxruntime-web WASM files, from ``web/node_modules``
  (``make setup`` runs ``npm ci`` there; nothing is fetched from a CDN), or ``web/vendor/`` in a
  deployed Space;
- ``/web/model/<revision>/{config.json, preprocessor_config.json, onnx/model_quantized.onnx}``: the
  files of ``MODEL_ID`` (a local directory, or a Hub repo fetched once into the Hub cache). The revision
  is a hash of the files, so a browser that cached an older model fetches the new one;
- ``/web/settings.json``: where the model is, the "hard to say" threshold and the image limits, read
  from the same settings the Python core uses.

With ``isolated=True`` (the default) every answer carries the cross-origin isolation headers
(COOP/COEP) that let onnxruntime-web use WASM threads.

>>> app, url, _ = demo.launch(app_kwargs={"routes": web_routes("models/clean-or-messy", 0.65)})  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from cleanmessy import settings
from cleanmessy.errors import ModelLoadError
from cleanmessy.images import DEFAULT_MIN_SIDE
from cleanmessy.model_files import CONFIG_FILE, ONNX_FILES, PROCESSOR_FILE, model_file

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WEB_DIR = ROOT / "web"
PATH = "/web"
PAGE_FILES = ("index.html", "app.js", "resize.js", "style.css", "sw.js")
MODEL_FILES = (CONFIG_FILE, PROCESSOR_FILE, ONNX_FILES["onnx-int8"])
VENDOR_FILES = {
    "transformers.min.js": ("@huggingface/transformers", "dist/transformers.min.js"),
    "ort-wasm-simd-threaded.mjs": ("onnxruntime-web", "dist/ort-wasm-simd-threaded.mjs"),
    "ort-wasm-simd-threaded.wasm": ("onnxruntime-web", "dist/ort-wasm-simd-threaded.wasm"),
}
"""The files the page loads from ``vendor/``: (npm package, path inside it)."""

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class WebPageError(ModelLoadError):
    """The page cannot be served: its npm packages or the model's files are missing."""


def vendor_file(name: str, web_dir: Path = WEB_DIR) -> Path:
    """Path of a vendored file: ``web/vendor/<name>`` in a deployed copy, else from ``web/node_modules``
    (onnxruntime-web from where transformers.js resolves it)."""
    staged = web_dir / "vendor" / name
    if staged.is_file():
        return staged
    node_modules = web_dir / "node_modules"
    package, inner = VENDOR_FILES[name]
    nested = node_modules / "@huggingface" / "transformers" / "node_modules" / package / inner
    path = nested if nested.is_file() else node_modules / package / inner
    if not path.is_file():
        raise WebPageError(f"{path} is missing: run `make setup` (npm ci in web/) to install the page's packages")
    return path


def vendor_files(web_dir: Path = WEB_DIR) -> dict[str, Path]:
    """Every file the page needs from npm, checked to exist."""
    return {name: vendor_file(name, web_dir) for name in VENDOR_FILES}


def model_files(source: str, token: str | None = None) -> dict[str, Path]:
    """The local paths of the files transformers.js reads from ``source`` (downloaded once through the Hub cache)."""
    files = {}
    for name in MODEL_FILES:
        try:
            path = model_file(source, name, token)
        except Exception as error:  # a Hub failure: no repo, no network, bad token
            raise WebPageError(f"could not get {name} of {source!r} for the in-browser page: {error}") from error
        if path is None:
            raise WebPageError(f"{source!r} has no {name}: the in-browser page needs the int8 ONNX export "
                               "(`python -m training.export`)")
        files[name] = path
    return files


def revision(files: dict[str, Path]) -> str:
    """A short hash of the model files' contents: the model's address changes when they do."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        with files[name].open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def page_settings(model_path: str, unsure_threshold: float) -> dict:
    """``settings.json``: what the page needs to know besides the model's own files."""
    return {
        "model": model_path,
        "local": True,
        "local_model_path": "model/",
        "unsure_threshold": unsure_threshold,
        "max_image_bytes": settings.max_image_bytes(),
        "max_image_pixels": settings.max_image_pixels(),
        "min_side": DEFAULT_MIN_SIDE,
        "server_app": "../",
    }


def web_routes(
    source: str,
    unsure_threshold: float,
    *,
    token: str | None = None,
    isolated: bool = True,
    web_dir: Path = WEB_DIR,
) -> list[BaseRoute]:
    """Routes that serve the page, its vendored files and ``source``'s model at ``/web/``.

    Pass them to ``demo.launch(app_kwargs={"routes": ...})``: they are matched before Gradio's own.
    Raises :class:`WebPageError` when the npm packages or the model's ONNX files are missing.
    """
    vendor = vendor_files(web_dir)
    model = model_files(source, token)
    rev = revision(model)
    settings = page_settings(rev, unsure_threshold)
    headers = dict(ISOLATION_HEADERS) if isolated else {}

    def file(path: Path, cache: str) -> Response:
        return FileResponse(path, headers={**headers, "Cache-Control": cache})

    async def page(request: Request) -> Response:
        name = request.path_params.get("name") or "index.html"
        if name not in PAGE_FILES:
            return Response("not found", status_code=404, headers=headers)
        return file(web_dir / name, "no-cache")

    async def settings_json(request: Request) -> Response:
        return JSONResponse(settings, headers={**headers, "Cache-Control": "no-cache"})

    async def vendored(request: Request) -> Response:
        path = vendor.get(request.path_params["name"])
        if path is None:
            return Response("not found", status_code=404, headers=headers)
        return file(path, "no-cache")

    async def model_file_route(request: Request) -> Response:
        path = model.get(request.path_params["name"])
        if request.path_params["rev"] != rev or path is None:
            return Response("not found", status_code=404, headers=headers)
        return file(path, "public, max-age=31536000, immutable")

    async def slash(request: Request) -> Response:
        return RedirectResponse(f"{PATH}/", status_code=307)

    logger.info("in-browser page at %s/ serving %s (revision %s)", PATH, source, rev)
    return [
        Route(PATH, slash),
        Mount(PATH, routes=[
            Route("/", page),
            Route("/settings.json", settings_json),
            Route("/vendor/{name}", vendored),
            Route("/model/{rev}/{name:path}", model_file_route),
            Route("/{name}", page),
        ]),
    ]
