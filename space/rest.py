"""A plain REST API beside the Gradio app, on the same server: for programs that just want to POST a photo.

    curl -F file=@room.jpg http://127.0.0.1:7860/api/classify
    curl -H 'Content-Type: image/jpeg' --data-binary @room.jpg http://127.0.0.1:7860/api/classify

| route                      | answer                                                                 |
|----------------------------|------------------------------------------------------------------------|
| ``POST /api/classify``       | the ``/predict`` JSON for a multipart ``file`` or a raw ``image/*`` body |
| ``POST /api/classify/batch`` | one ``{file, ...verdict}`` or ``{file, error}`` per multipart ``files`` part |
| ``GET /api/health``          | ``{status, model, revision, backend}``                                   |
| ``GET /api/docs``            | OpenAPI (Swagger) page; the schema is ``/api/openapi.json``              |

Errors are ``{"error": message}``: 413 over ``MAX_IMAGE_BYTES`` (or the pixel limit), 415 for a body that
is not an image (the core's message), 422 for a damaged, empty or tiny image or a missing ``file`` field,
429 (with ``Retry-After``) when a client exceeds ``REST_RATE_LIMIT`` (default 60 requests per 60 s per
client IP; a batch counts each photo). Every photo goes through the same service and micro-batcher as
the Gradio ``/predict`` endpoint, so concurrent REST and Gradio requests share forward passes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount

from cleanmessy.errors import CleanMessyError, ImageTooLargeError, NotAnImageError
from cleanmessy.ratelimit import RateLimiter
from space.service import SpaceService

logger = logging.getLogger(__name__)

PREFIX = "/api"
MULTIPART_OVERHEAD = 64 * 1024
"""Bytes allowed on top of the image limit for multipart boundaries and part headers."""
BATCH_BYTES = 4
MAX_FILES = 64
"""Most photos in one batch request."""
"""A batch request may carry this many times ``MAX_IMAGE_BYTES`` in all."""

_VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["clean", "messy"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "unsure": {"type": "boolean", "description": 'confidence under UNSURE_THRESHOLD: "hard to say"'},
    },
    "example": {"label": "messy", "confidence": 0.93, "scores": {"clean": 0.07, "messy": 0.93}, "unsure": False},
}
_ERROR = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}, "example": {"error": "this file is not an image"},
}}}}
_ERRORS = {
    "413": {"description": "over the size limit (MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS)", **_ERROR},
    "415": {"description": "not an image, or an unsupported content type", **_ERROR},
    "422": {"description": "a damaged, empty or too small image, or no file field", **_ERROR},
    "429": {"description": "rate limit (REST_RATE_LIMIT) hit; see Retry-After", **_ERROR},
}
_BINARY = {"type": "string", "format": "binary"}


class RestError(Exception):
    """An answer other than 200: an HTTP status and a message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def status_for(error: CleanMessyError) -> int:
    """413 for too large, 415 for not an image, 422 for any other bad image."""
    if isinstance(error, ImageTooLargeError):
        return 413
    if isinstance(error, NotAnImageError):
        return 415
    return 422


def client_key(request: Request) -> str:
    """Who a request counts against: the address the nearest proxy saw (last ``X-Forwarded-For`` hop), else the peer.

    The last hop is the one a client cannot forge: a proxy appends the address it saw to the header.
    """
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RestError(413, f"request too large: over {limit / 1024 / 1024:.1f} MB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RestError(413, f"request too large: over {limit / 1024 / 1024:.1f} MB")
        chunks.append(chunk)
    return b"".join(chunks)


class RestApi:
    """The routes' state: the shared service, the size limit and the per-client rate limit."""

    def __init__(self, service: SpaceService, *, max_bytes: int, rate_limit: tuple[int, float]) -> None:
        self.service = service
        self.max_bytes = max_bytes
        self.limiter = RateLimiter(*rate_limit)

    def spend(self, request: Request, cost: int = 1) -> None:
        wait = self.limiter.take(client_key(request), cost)
        if wait:
            raise RestError(429, f"rate limit: at most {self.limiter.limit} photos per {self.limiter.window:g} s; "
                                 f"try again in {wait:.0f} s", {"Retry-After": str(max(1, round(wait)))})

    async def photos(self, request: Request, field: str, total: int) -> list[tuple[str, bytes]]:
        """``(name, bytes)`` of each photo: the multipart ``field`` parts, or the raw ``image/*`` body."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            # Read (bounded) first, then parse from memory: Starlette's parser would spool any size to disk.
            body = await read_body(request, total + MULTIPART_OVERHEAD)

            async def replay() -> dict:
                return {"type": "http.request", "body": body, "more_body": False}

            form = await Request(request.scope, replay).form(max_files=MAX_FILES)
            parts = [part for part in form.getlist(field) if isinstance(part, UploadFile)]
            if not parts:
                raise RestError(422, f"no photo received: send it as the multipart field {field!r}")
            photos = []
            for part in parts:
                data = await part.read()
                if len(data) > self.max_bytes:
                    raise RestError(413, f"{part.filename or field}: file too large: over "
                                         f"{self.max_bytes / 1024 / 1024:.1f} MB")
                photos.append((part.filename or field, data))
            return photos
        if content_type.startswith("image/") or content_type == "application/octet-stream":
            return [("body", await read_body(request, self.max_bytes))]
        raise RestError(415, f"send the photo as the multipart field {field!r} or as a raw image/* body, "
                             f"not {content_type or 'a body without a Content-Type'}")

    async def classify(self, request: Request) -> dict:
        self.spend(request)
        (_, data), *_ = await self.photos(request, "file", self.max_bytes)
        try:
            return await run_in_threadpool(self.service.classify, data)
        except CleanMessyError as error:
            raise RestError(status_for(error), str(error)) from None

    async def classify_batch(self, request: Request) -> list[dict]:
        photos = await self.photos(request, "files", self.max_bytes * BATCH_BYTES)
        self.spend(request, len(photos))
        return await run_in_threadpool(self.service.classify_many, photos)

    def health(self) -> dict:
        predictor = self.service.predictor
        return {"status": "ok", "model": predictor.served.model_id, "revision": predictor.served.commit,
                "backend": predictor.backend.name}


def build_rest_app(api: RestApi) -> FastAPI:
    """The FastAPI app mounted at ``/api``: routes, OpenAPI schema and docs page."""
    app = FastAPI(title="Clean or Messy REST API", version="1",
                  description="POST a room photo, get clean or messy. Also on this server: the Gradio app (/), "
                              "its API (/gradio_api/) and, when enabled, MCP tools (/gradio_api/mcp/).",
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")

    @app.exception_handler(RestError)
    async def rest_error(request: Request, error: RestError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:  # 404, 405, a malformed form...
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected failure in %s", request.url.path)
        return JSONResponse({"error": "Something went wrong on our side. Please try again."}, status_code=500)

    @app.post("/classify", summary="Classify one room photo", response_description="the verdict",
              responses={"200": {"content": {"application/json": {"schema": _VERDICT_SCHEMA}}}, **_ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                     "properties": {"file": _BINARY}}},
                  "image/*": {"schema": _BINARY},
              }}})
    async def classify(request: Request) -> Any:
        """The `/predict` JSON: `label` (clean or messy), `confidence`, both `scores`, and `unsure` ("hard to say")."""
        return await api.classify(request)

    @app.post("/classify/batch", summary="Classify several photos in shared forward passes",
              responses={"200": {"content": {"application/json": {"schema": {"type": "array", "items": {
                  "allOf": [_VERDICT_SCHEMA, {"type": "object", "properties": {
                      "file": {"type": "string"}, "error": {"type": "string"}}}]}}}}}, **_ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["files"],
                  "properties": {"files": {"type": "array", "items": _BINARY}}}}}}})
    async def classify_batch(request: Request) -> Any:
        """One result per `files` part, in order: `file` plus the verdict, or `file` plus `error` for a bad photo."""
        return await api.classify_batch(request)

    @app.get("/health", summary="Which model is serving",
             responses={"200": {"content": {"application/json": {"example": {
                 "status": "ok", "model": "user/clean-or-messy", "revision": "0123abc...", "backend": "onnx-int8"}}}}})
    async def health() -> Any:
        """`model` (Hub id or directory), `revision` (Hub commit, null for a local directory), `backend`."""
        return api.health()

    return app


def rest_routes(service: SpaceService, *, max_bytes: int, rate_limit: tuple[int, float]) -> list[BaseRoute]:
    """Routes to put in front of Gradio's own (``launch(app_kwargs={"routes": ...})``)."""
    return [Mount(PREFIX, app=build_rest_app(RestApi(service, max_bytes=max_bytes, rate_limit=rate_limit)))]
