"""Serverless bundles (``python -m bot.package``) run from what would be uploaded, against the fake Bot API.

- GCF: the bundle folder served by the real ``functions-framework`` CLI (its ``_cli`` entry point, which
  the console script calls) on 127.0.0.1, in ``python -I -S`` whose ``sys.path`` is the bundle, the
  virtual environment's site-packages (for functions-framework and the bundle's requirements, as the
  platform installs them) and the standard library: no ``.pth`` files, so even an editable install of
  this project cannot put its own ``bot`` or ``cleanmessy`` in front of the bundle's.
- Lambda: the zip, unpacked, loaded by ``python -I -S`` (no site-packages, no environment paths, no
  current directory) whose ``sys.path`` gets only the unpacked folder prepended, in front of the
  standard library. ``-I`` ignores ``PYTHONPATH``, so the driver inserts the folder itself. The
  dependencies are installed into the bundle by the same ``pip --platform ... --only-binary=:all:`` step
  as for Lambda, but for this interpreter's Python version (Lambda runs 3.12), so they load here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from bot import buttons, package, texts
from tests.fakes.telegram import FakeTelegram, encode_image
from tests.helpers import free_port, make_room_image

SECRET = "bundle-secret_for-tests"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def model_dir(exported_model_dir) -> Path:
    """The trained tiny model with its int8 ONNX export (shared; never changed here)."""
    return exported_model_dir


@pytest.fixture(scope="module")
def photo() -> bytes:
    return encode_image(make_room_image(messy=True, size=(96, 80), seed=21))


def expected_reply(model_dir: Path, photo: bytes) -> str:
    from cleanmessy.predictor import Predictor

    predictor = Predictor.load(model_dir, backend="onnx-int8", threads=1)
    return texts.verdict_text([predictor.predict(photo)], predictor.unsure_below)


def function_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update({"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                "FEEDBACK_DIR": str(tmp_path / "feedback"), "TORCH_THREADS": "1", "LOG_LEVEL": "INFO"})
    return env


def test_bundle_holds_only_what_the_function_runs(model_dir, tmp_path):
    bundle = package.build("gcf", str(model_dir), tmp_path / "gcf")
    files = {path.relative_to(bundle.folder).as_posix() for path in bundle.folder.rglob("*") if path.is_file()}
    assert {"main.py", "requirements.txt", "bot/serverless.py", "bot/updates.py", "cleanmessy/predictor.py",
            "cleanmessy/explain.py", "cleanmessy/occlusion.py",  # "Why?" by occlusion on the int8 model, no torch
            "model/config.json", "model/preprocessor_config.json", "model/onnx/model_quantized.onnx"} <= files
    assert not files & {"bot/cli.py", "bot/package.py", "cleanmessy/imagefolder.py",
                        "model/model.safetensors", "model/onnx/model.onnx"}
    requirements = (bundle.folder / "requirements.txt").read_text().split()
    assert "functions-framework==3.10.2" in requirements
    assert not [line for line in requirements if line.startswith(("torch", "transformers"))]
    assert bundle.archive.is_file() and 0 < bundle.zipped < bundle.unzipped
    assert "MB unzipped (limit 500 MB)" in bundle.report()[0]


def test_package_takes_a_hub_repo_at_a_revision(model_dir, hub, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token="hf_bundletester")
    repo_id = "bundletester/clean-or-messy"
    api.create_repo(repo_id, exist_ok=True)
    first = api.upload_folder(repo_id=repo_id, folder_path=str(model_dir)).oid
    api.upload_file(repo_id=repo_id, path_or_fileobj=b"{}", path_in_repo="onnx/model_quantized.onnx")  # a later commit

    bundle = package.build("gcf", f"{repo_id}@{first}", tmp_path / "gcf")
    shipped = bundle.folder / "model" / "onnx" / "model_quantized.onnx"
    assert shipped.read_bytes() == (model_dir / "onnx" / "model_quantized.onnx").read_bytes()
    assert not (bundle.folder / "model" / "model.safetensors").exists()  # only the serving files were fetched


def test_package_refuses_a_model_without_int8_onnx(tiny_model_dir, tmp_path):
    with pytest.raises(package.PackageError, match="no onnx/model_quantized.onnx"):
        package.build("lambda", str(tiny_model_dir), tmp_path / "out", install=False)


GCF_DRIVER = """
import sys
bundle, site_packages, *arguments = sys.argv[1:]
sys.path[:0] = [bundle, site_packages]
sys.argv = ["functions-framework", *arguments]
from functions_framework._cli import _cli
_cli()
"""


def test_gcf_bundle_under_functions_framework(model_dir, fake, photo, tmp_path):
    bundle = package.build("gcf", str(model_dir), tmp_path / "gcf")
    port = free_port()
    log = tmp_path / "functions-framework.log"
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", GCF_DRIVER, str(bundle.folder), sysconfig.get_paths()["purelib"],
         "--target", "telegram_webhook", "--source", "main.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=bundle.folder, env=function_env(fake, tmp_path), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                without_secret = httpx.post(url, json=fake.update(message=fake.text_message("/start")), timeout=30)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert without_secret.status_code == 403
        assert fake.sent("sendMessage") == []

        update = fake.update(message=fake.photo_message(photo))
        answer = httpx.post(url, json=update, headers={HEADER: SECRET}, timeout=60)
        assert answer.status_code == 200, log.read_text()
        assert fake.texts(42) == [expected_reply(model_dir, photo)]
    finally:
        server.terminate()
        server.wait(timeout=10)
    output = log.read_text()
    assert fake.token not in output and SECRET not in output


LAMBDA_DRIVER = """
import json, sys
bundle, events = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, bundle)
import lambda_function
answers = [lambda_function.lambda_handler(event, None) for event in events]
import bot, cleanmessy
print(json.dumps({
    "answers": answers,
    "from_bundle": [module.__file__.startswith(bundle) for module in (bot, cleanmessy, lambda_function)],
    "sys_path": sys.path,
    "heavy": sorted(name for name in ("torch", "transformers", "huggingface_hub") if name in sys.modules),
}))
"""


def test_lambda_zip_in_an_isolated_interpreter(model_dir, fake, photo, tmp_path):
    bundle = package.build("lambda", str(model_dir), tmp_path / "lambda", python_version=LOCAL_PYTHON)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle.archive) as archive:
        archive.extractall(unpacked)
    assert (unpacked / "onnxruntime").is_dir() and (unpacked / "telegram").is_dir()  # dependencies are inside
    assert not (unpacked / "torch").exists() and not (unpacked / "transformers").exists()

    def event(update: dict, secret: str | None) -> dict:  # a Lambda function URL event (payload format 2.0)
        headers = {"content-type": "application/json", **({HEADER.lower(): secret} if secret else {})}
        return {"version": "2.0", "rawPath": "/", "headers": headers, "isBase64Encoded": False,
                "requestContext": {"http": {"method": "POST", "path": "/"}}, "body": json.dumps(update)}

    why = fake.callback_query(fake.text_message("a verdict"), buttons.callback_data(buttons.WHY, 0))
    events = [event(fake.update(message=fake.photo_message(photo)), None),
              event(fake.update(message=fake.photo_message(photo)), SECRET),
              event(fake.update(callback_query=why), SECRET)]
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAMBDA_DRIVER, str(unpacked), json.dumps(events)],
        cwd=tmp_path, env=function_env(fake, tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert [answer["statusCode"] for answer in report["answers"]] == [403, 200, 200]
    assert report["from_bundle"] == [True, True, True]
    assert report["sys_path"][0] == str(unpacked)
    assert not [entry for entry in report["sys_path"][1:] if "site-packages" in entry or entry.startswith(str(package.ROOT))]
    assert report["heavy"] == []  # torch and transformers were never imported
    assert fake.texts(42) == [expected_reply(model_dir, photo)]
    # No PyTorch in the bundle: "Why?" says heatmaps are unavailable instead of apologising for a crash.
    assert [call["text"] for call in fake.sent("answerCallbackQuery")] == [texts.NO_HEATMAP]
