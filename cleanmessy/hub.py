"""Turn Hugging Face Hub failures into one clear line a user can act on.

Every push and every load from a Hub id goes through :func:`hub_errors`, which maps what
``huggingface_hub`` (directly, or wrapped by ``transformers`` / ``datasets``) raises into a
:class:`HubAccessError` subclass. Messages never contain the token.

>>> from cleanmessy.hub import hub_errors
>>> with hub_errors("alice/clean-or-messy", action="push to"):     # doctest: +SKIP
...     HfApi().create_repo("alice/clean-or-messy", exist_ok=True)
Traceback (most recent call last):
cleanmessy.hub.InvalidTokenError: the Hugging Face token was rejected (401 Unauthorized): ...
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

from cleanmessy import settings
from cleanmessy.errors import CleanMessyError

TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{6,}")


class HubAccessError(CleanMessyError):
    """A Hub request failed for a reason the user can fix; ``str()`` is one line without secrets."""


class NoTokenError(HubAccessError):
    """The Hub wants a token and none was given."""


class InvalidTokenError(HubAccessError):
    """The token was sent and the Hub rejected it (401)."""


class ForbiddenError(HubAccessError):
    """The token is valid but may not write there (403): another user's or org's namespace, or read-only."""


class RepoNotFoundError(HubAccessError):
    """No such repo (or it is private and the token cannot see it)."""


class MissingImageProcessorError(HubAccessError):
    """A model repo or directory has weights but no ``preprocessor_config.json``."""


class HubUnreachableError(HubAccessError):
    """The Hub could not be contacted (network, ``HF_ENDPOINT``) or offline mode forbids it."""


def endpoint() -> str:
    """The Hub URL in use (``$HF_ENDPOINT`` or huggingface.co)."""
    return settings.hub_endpoint()


def redact(text: str, token: str | None = None) -> str:
    """``text`` with ``token`` and anything shaped like a Hub token replaced by ``***``."""
    if token:
        text = text.replace(token, "***")
    return TOKEN_PATTERN.sub("***", text)


def repo_url(repo_id: str, repo_type: str = "model") -> str:
    """The web URL of a repo on the Hub in use."""
    prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[repo_type]
    return f"{endpoint()}/{prefix}{repo_id}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _sent_token(http_error, token: str | None) -> bool:
    """Whether the failing request carried a token (read from the request when possible)."""
    request = getattr(getattr(http_error, "response", None), "request", None)
    if request is not None:
        return "authorization" in {key.lower() for key in request.headers.keys()}
    if token:
        return True
    from huggingface_hub import get_token

    return get_token() is not None


def describe(
    error: BaseException, repo_id: str, repo_type: str = "model", *, action: str = "access", token: str | None = None
) -> HubAccessError | None:
    """Map ``error`` (or an error it wraps) to a one-line :class:`HubAccessError`, or ``None`` if it is not a Hub failure."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"{repo_type} repo {repo_id}"
    access = "write" if action.startswith(("push", "deploy")) else "read"
    set_token = f"set HF_TOKEN to a token with {access} access (or run `hf auth login`)"
    for cause in _chain(error):
        if isinstance(cause, HubAccessError):
            return cause
        if isinstance(cause, LocalTokenNotFoundError):
            return NoTokenError(f"no Hugging Face token found, which is needed to {action} {what}: {set_token}")
        if isinstance(cause, OfflineModeIsEnabled):
            if access == "read":
                return HubUnreachableError(
                    f"HF_HUB_OFFLINE=1 is set and {what} is not in the local cache: unset HF_HUB_OFFLINE to download it"
                )
            return HubUnreachableError(f"HF_HUB_OFFLINE=1 is set: unset it (HF_HUB_OFFLINE=0) to {action} {what}")
        if isinstance(cause, RepositoryNotFoundError):
            if not _sent_token(cause, token):
                return RepoNotFoundError(
                    f"{what} was not found at {endpoint()}, or it is private and no token was given: "
                    "check the id (user/name), or set HF_TOKEN to a token that can read it"
                )
            return RepoNotFoundError(
                f"{what} was not found at {endpoint()}: check the id (user/name), "
                "and that your token can see it if it is private"
            )
        if isinstance(cause, RevisionNotFoundError):
            return RepoNotFoundError(f"{what} has no such revision: check the branch, tag or commit")
        if isinstance(cause, HfHubHTTPError) and cause.response is not None:
            status = cause.response.status_code
            if status == 401 and not _sent_token(cause, token):
                return NoTokenError(f"the Hub needs a token to {action} {what}: {set_token}")
            if status == 401:
                return InvalidTokenError(
                    f"the Hugging Face token was rejected (401 Unauthorized) when trying to {action} {what}: "
                    f"it is invalid, expired or revoked; create a new one at {endpoint()}/settings/tokens "
                    "and set HF_TOKEN"
                )
            if status == 403:
                namespace = repo_id.split("/")[0]
                return ForbiddenError(
                    f"your token may not {action} {what} (403 Forbidden): the namespace '{namespace}' is not "
                    "yours or your org's, or the token is read-only; use your own namespace or a write token"
                )
            message = redact(str(cause).strip().splitlines()[0] if str(cause).strip() else "", token)
            return HubAccessError(f"the Hub refused to {action} {what} (HTTP {status}): {message}")
        if type(cause).__module__.startswith(("httpx", "httpcore")) and "Connect" in type(cause).__name__:
            return HubUnreachableError(f"cannot reach the Hub at {endpoint()}: check the network or HF_ENDPOINT")
    return None


@contextlib.contextmanager
def hub_errors(
    repo_id: str, repo_type: str = "model", *, action: str = "access", token: str | None = None
) -> Iterator[None]:
    """Re-raise Hub failures inside the block as one-line :class:`HubAccessError`; other errors pass through."""
    try:
        yield
    except HubAccessError:
        raise
    except Exception as error:
        mapped = describe(error, repo_id, repo_type, action=action, token=token)
        if mapped is None:
            raise
        raise mapped from error


def check_image_processor(model_dir: str | Path, name: str | None = None) -> None:
    """Raise :class:`MissingImageProcessorError` unless ``model_dir`` holds ``preprocessor_config.json``."""
    from cleanmessy.model_files import PROCESSOR_FILE, not_a_model  # model_files imports this module

    if not (Path(model_dir) / PROCESSOR_FILE).is_file():
        raise MissingImageProcessorError(str(not_a_model(name or model_dir, PROCESSOR_FILE, "do that before pushing")))
