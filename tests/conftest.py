"""Shared test setup. Runs before any test module imports a Hugging Face library.

The environment below keeps every test on this machine: no request may leave 127.0.0.1.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_TMP_HOME = tempfile.mkdtemp(prefix="cleanmessy-tests-")
os.environ.update(
    {
        "HF_HOME": os.path.join(_TMP_HOME, "hf"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "SE_OFFLINE": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "CLEANMESSY_CACHE": os.environ.get("CLEANMESSY_CACHE", os.path.join(ROOT, ".cache")),
    }
)
os.environ.pop("HF_TOKEN", None)
os.environ.pop("TELEGRAM_TOKEN", None)
os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")  # replaced by the loopback Hub when it starts

from tests.fakes.hub import HubServer  # noqa: E402  (standard library only: safe before any HF import)

HUB = HubServer().start()  # one loopback Hub for the whole session, on a free port
os.environ["HF_ENDPOINT"] = HUB.url  # the HF libraries copy it at import, so it is set here, first
os.environ["HF_HUB_OFFLINE"] = "0"  # the loopback Hub stands in for the network; tests that need offline set it

import pytest  # noqa: E402

from tests.helpers import make_room_image, save_tiny_model  # noqa: E402

SHARED_ROOMS = ROOT.parent / "shared" / "data" / "rooms"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "registry: installs packages from the package registry (PyPI) into a fresh venv")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised, tiny clean/messy Dinov2 classifier saved with its image processor."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def exported_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny model with ``onnx/model.onnx`` and ``onnx/model_quantized.onnx``, built once per session.

    Shared by several test modules: copy it before changing anything in it.
    """
    from tests.onnx_helpers import export_tiny_model  # torch: imported only by the tests that need it

    return export_tiny_model(tmp_path_factory.mktemp("onnx-model"))


@pytest.fixture
def fake():
    """A fake Telegram Bot API server on 127.0.0.1 (``fake.url``, ``fake.update(...)``, ``fake.texts(chat)``)."""
    from tests.fakes.telegram import FakeTelegram  # aiohttp: imported only by the bot's tests

    with FakeTelegram() as server:
        yield server


@pytest.fixture
def room_image():
    """Factory for generated room-like RGB images: ``room_image(messy=True, size=(96, 80), seed=0)``."""
    return make_room_image


@pytest.fixture
def hub() -> HubServer:
    """The session's loopback Hub: ``hub.url``, ``hub.files(repo_id, repo_type)``, and
    ``with hub.tokens_required({token: [namespaces]}):`` to demand tokens within a block."""
    return HUB


@pytest.fixture(scope="session")
def shared_rooms() -> Path:
    """The real labelled dataset beside the project; tests using it skip when it is absent."""
    if not (SHARED_ROOMS / "train").is_dir():
        pytest.skip(f"real dataset not found at {SHARED_ROOMS}")
    return SHARED_ROOMS
