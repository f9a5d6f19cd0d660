"""The bot under hostile or broken input: failing starts never show the token, the secret is checked first,
malformed updates end as a logged error and a 200 (or a 400 for what is not an update), never a crash or a retry storm.

Real processes where the question is what leaves the process (stdout, stderr, exit status), and
hypothesis over the update parser and the callback data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, Update

from bot import buttons, texts, updates
from tests.fakes.telegram import FakeTelegram, encode_image
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-for-tests_only"
WRONG_TOKEN = "987654321:AAWrongTokenForTests-never_valid_zz9"


def env_for(fake: FakeTelegram, model_dir: Path, tmp_path: Path, *, token: str, api_url: str) -> dict[str, str]:
    import os

    return {
        **os.environ, "TELEGRAM_TOKEN": token, "TELEGRAM_API_URL": api_url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "MODEL_ID": str(model_dir), "FEEDBACK_DIR": str(tmp_path / "feedback"), "LOG_LEVEL": "DEBUG",
        "TORCH_THREADS": "1", "HF_HUB_OFFLINE": "1",
    }


def assert_no_secret(token: str, *streams: str) -> None:
    for text in streams:
        assert token not in text
        assert token.split(":", 1)[1] not in text
        assert SECRET not in text


# ---- a failing start: every output stream, every entry point -----------------------------------------

MISCONFIGURATIONS = {
    "wrong-token": lambda fake: (WRONG_TOKEN, fake.url),                     # 401 from the Bot API
    "mistyped-api-url": lambda fake: (fake.token, fake.url + "/tyop"),      # a valid token, a 404
}


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize("misconfiguration", sorted(MISCONFIGURATIONS))
def test_a_rejected_token_never_reaches_any_output(fake, tiny_model_dir, tmp_path, mode, misconfiguration):
    token, api_url = MISCONFIGURATIONS[misconfiguration](fake)
    args = ["--mode", mode]
    if mode == "webhook":
        args += ["--listen", "127.0.0.1", "--port", str(free_port()), "--url", "https://bot.example.test/hook"]
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env_for(fake, tiny_model_dir, tmp_path, token=token, api_url=api_url),
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "rejected the token" in result.stderr  # said plainly (python-telegram-bot also logs its own traceback)
    assert_no_secret(token, result.stdout, result.stderr)


SERVERLESS_SCRIPT = """
import json, sys
from bot import serverless

class Request:  # the slice of a Flask request that gcf_handler uses
    def __init__(self, headers, body):
        import io
        self.headers, self.content_length, self.stream = headers, len(body), io.BytesIO(body)

headers = {"X-Telegram-Bot-Api-Secret-Token": sys.argv[1], "Content-Type": "application/json"}
body = json.dumps({"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                               "text": "/start"}})
results = [serverless.handle(headers, body)[0],
           serverless.lambda_handler({"headers": headers, "body": body})["statusCode"],
           serverless.gcf_handler(Request(headers, body.encode()))[1]]
print(json.dumps(results))
"""


@pytest.mark.parametrize("misconfiguration", sorted(MISCONFIGURATIONS))
def test_serverless_entry_points_answer_500_without_the_token(fake, tiny_model_dir, tmp_path, misconfiguration):
    token, api_url = MISCONFIGURATIONS[misconfiguration](fake)
    result = subprocess.run(
        [sys.executable, "-c", SERVERLESS_SCRIPT, SECRET], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=env_for(fake, tiny_model_dir, tmp_path, token=token, api_url=api_url),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [500, 500, 500]
    assert "rejected the token" in result.stderr
    assert_no_secret(token, result.stdout, result.stderr)


REDACTION_SCRIPT = """
import sys, threading
from bot.logs import setup_logging
token = sys.argv[1]
setup_logging([token])
print("printed", token)
def crash():
    raise RuntimeError(token)
thread = threading.Thread(target=crash)
thread.start()
thread.join()
if sys.argv[2] == "exit":
    sys.exit("exit message with " + token)
raise ValueError("uncaught with " + token)
"""


@pytest.mark.parametrize("ending", ["exit", "raise"])
def test_uncaught_exceptions_exit_messages_and_prints_are_redacted_too(ending):
    """The last line of defence: a print, a thread's crash, an exit message, an exception nobody caught."""
    result = subprocess.run([sys.executable, "-c", REDACTION_SCRIPT, WRONG_TOKEN, ending], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "printed [REDACTED]" in result.stdout
    assert "RuntimeError: [REDACTED]" in result.stderr
    assert ("exit message with [REDACTED]" if ending == "exit" else "ValueError: uncaught with [REDACTED]") in result.stderr
    assert_no_secret(WRONG_TOKEN, result.stdout, result.stderr)


# ---- the secret first, then the size, then a parser that never crashes ---------------------------------

@pytest.fixture
def serverless_env(fake, tiny_model_dir, tmp_path, monkeypatch):
    from bot import serverless

    for key, value in env_for(fake, tiny_model_dir, tmp_path, token=fake.token, api_url=fake.url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    yield serverless
    serverless.shutdown()


def test_lambda_checks_the_secret_before_decoding_the_body(serverless_env, monkeypatch):
    from cleanmessy.predictor import Predictor

    monkeypatch.setattr(Predictor, "load", classmethod(lambda cls, *a, **k: pytest.fail("loaded before the secret")))
    for event in ({"isBase64Encoded": True, "body": "%%% not base64 %%%", "headers": {}},
                  {"isBase64Encoded": True, "body": "%%%", "headers": {"x-telegram-bot-api-secret-token": "nope"}},
                  {"isBase64Encoded": True, "body": "%%%"}, {"headers": None, "body": 12}, {}, "garbage", None):
        assert serverless_env.lambda_handler(event)["statusCode"] == 403
    event = {"isBase64Encoded": True, "body": "%%% not base64 %%%", "headers": {"X-Telegram-Bot-Api-Secret-Token": SECRET}}
    assert serverless_env.lambda_handler(event)["statusCode"] == 400


def test_malformed_authenticated_updates_never_crash_or_retry(serverless_env, fake, room_image, caplog):
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    handle = serverless_env.handle
    message = fake.text_message("/start", chat_id=7)
    nested = '{"update_id": 5, "message": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert handle(headers, "not json")[0] == 400
    assert handle(headers, nested)[0] == 400
    assert handle(headers, b"\xff\xfe\x00garbage")[0] == 400
    assert handle(headers, "[1, 2, 3]")[0] == 400
    assert handle(headers, '{"update_id": "1"}')[0] == 400
    assert handle(headers, json.dumps({"update_id": 1, "pad": "x" * (2 << 20)}))[0] == 400  # over the 1 MB cap
    assert handle(headers, json.dumps(fake.update(message={**message, "date": 1e20})))[0] == 200
    assert handle(headers, json.dumps(fake.update(message={**message, "chat": {"id": 7, "type": "private",
                                                                         "x": [[[[[[[]]]]]]]}})))[0] == 200
    assert "could not be read: OverflowError" in caplog.text
    # Forged callback data is ignored politely: the tap is answered, nothing else happens.
    photo = fake.photo_message(encode_image(room_image()), chat_id=7)
    for data in ("why:²", "why:٣", "why:99999999999999999999", "right:-1", "wrong:", "why:0:0", ":", "x" * 64):
        assert handle(headers, json.dumps(fake.update(callback_query=fake.callback_query(photo, data))))[0] == 200
    assert len(fake.sent("answerCallbackQuery")) == 8
    assert fake.texts(7) == [texts.START]  # the update with an unknown extra field; no apology: nothing failed


def test_a_handler_that_fails_is_logged_and_answered_200(serverless_env, fake, monkeypatch, caplog):
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    serverless_env.handle(headers, json.dumps(fake.update(message=fake.text_message("/start", chat_id=8))))  # warm up

    async def broken(update):
        raise RuntimeError(f"boom with {fake.token}")

    monkeypatch.setattr(serverless_env._runtime.application, "process_update", broken)
    assert serverless_env.handle(headers, json.dumps(fake.update(message=fake.text_message("/help"))))[0] == 200
    assert "boom with [REDACTED]" in caplog.text and fake.token not in caplog.text


def test_webhook_mode_answers_403_400_and_200_as_documented(fake, tiny_model_dir, tmp_path):
    port = free_port()
    env = env_for(fake, tiny_model_dir, tmp_path, token=fake.token, api_url=fake.url)
    env["BOT_MAX_UPDATE_BYTES"] = "65536"
    log = tmp_path / "bot.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--mode", "webhook", "--listen", "127.0.0.1", "--port", str(port),
             "--url", "https://bot.example.test/hook"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/hook"

    def post(body: bytes, secret: str | None, content_type: str = "application/json") -> int:
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (ConnectionError, urllib.error.URLError):
            return -1  # the server hung up without an answer

    try:
        fake.wait_for(lambda f: f.webhook.get("url"), 90)
        deadline = time.monotonic() + 10
        while post(b"{}", None) == -1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert post(b"garbage", None) == 403
        assert post(b"x" * (1 << 20), None) == 403  # unauthenticated: refused before the body is read
        assert post(b"garbage", SECRET) == 400
        assert post(b"x" * (1 << 20), SECRET) in (400, -1)
        assert post(b"[" * 50_000 + b"]" * 50_000, SECRET) == 400
        message = fake.text_message("/start", chat_id=9)
        assert post(json.dumps(fake.update(message={**message, "date": 1e20})).encode(), SECRET) == 200
        assert post(json.dumps(fake.update(message=message)).encode(), SECRET) == 200
        assert fake.wait_texts(9) == [texts.START]  # still serving after all that
    finally:
        process.terminate()
        process.wait(30)
    output = log.read_text()
    assert process.returncode == 0, output
    assert "could not be read: OverflowError" in output
    assert_no_secret(fake.token, output)


# ---- property-based: the update parser and the callback data ---------------------------------------------

BOT = Bot("123:property-based-tests-token-xxxxxxxx")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
REAL_UPDATE = {
    "update_id": 10,
    "message": {"message_id": 3, "date": 1700000000, "chat": {"id": 5, "type": "private", "first_name": "A"},
                "from": {"id": 5, "is_bot": False, "first_name": "A"}, "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 60}]},
}


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


PATHS = [path for path in _paths(REAL_UPDATE) if path]


def _replace(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(copy[path[0]], path[1:], new)
    return copy


def assert_update_or_refusal(body) -> None:
    try:
        update = updates.parse_update(body, BOT, 1 << 20)
    except (updates.NotAnUpdate, updates.UnreadableUpdate):
        return
    assert isinstance(update, Update)


@settings(max_examples=200, deadline=None, database=None)
@given(JSON)
def test_any_json_is_an_update_or_a_clean_refusal(value):
    assert_update_or_refusal(json.dumps(value))
    assert_update_or_refusal(json.dumps({"update_id": 1, "message": value}))


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(PATHS), JSON | st.sampled_from([1e20, -1e20, 2**64, -(2**63), "", [], {}]))
def test_mutated_real_updates_are_an_update_or_a_clean_refusal(path, new):
    assert_update_or_refusal(json.dumps(_replace(REAL_UPDATE, path, new)))


@settings(max_examples=100, deadline=None, database=None)
@given(st.binary(max_size=512))
def test_any_bytes_are_an_update_or_a_clean_refusal(body):
    assert_update_or_refusal(body)


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=70) | st.none() | st.integers())
def test_callback_data_is_ours_or_ignored(data):
    parsed = buttons.parse_callback(data)
    if parsed is not None:
        action, index = parsed
        assert action in (buttons.WHY, buttons.RIGHT, buttons.WRONG) and 0 <= index <= 99
        assert buttons.parse_callback(buttons.callback_data(action, index)) == parsed


@given(st.sampled_from([buttons.WHY, buttons.RIGHT, buttons.WRONG]), st.integers(0, 9))
def test_callback_data_round_trips(action, index):
    assert buttons.parse_callback(buttons.callback_data(action, index)) == (action, index)


def test_secret_check_tolerates_any_headers():
    for headers in (None, {}, [], "x", {1: 2}, {"x-telegram-bot-api-secret-token": None},
                    {"X-Telegram-Bot-Api-Secret-Token": "é" * 300}, {"X-TELEGRAM-BOT-API-SECRET-TOKEN": SECRET}):
        assert updates.secret_matches(headers, SECRET) is (headers == {"X-TELEGRAM-BOT-API-SECRET-TOKEN": SECRET})


def test_redaction_survives_split_writes_and_formatters_that_render_the_exception():
    import io
    import logging

    from bot.logs import RedactingFilter, RedactingStream

    redacting = RedactingFilter([WRONG_TOKEN])
    sink = io.StringIO()
    stream = RedactingStream(sink, redacting)
    stream.write("start " + WRONG_TOKEN[:10])
    stream.write(WRONG_TOKEN[10:] + " end\npartial " + WRONG_TOKEN)
    stream.flush()
    assert sink.getvalue() == "start [REDACTED] end\npartial [REDACTED]"

    try:
        raise ValueError(f"token {WRONG_TOKEN}")
    except ValueError as error:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (error,), (type(error), error, None))
    redacting.filter(record)
    assert record.exc_info is None  # nothing left for a custom formatter to render unredacted
    assert WRONG_TOKEN not in record.getMessage() and WRONG_TOKEN not in record.exc_text
    assert "ValueError: token [REDACTED]" in logging.Formatter().format(record)
