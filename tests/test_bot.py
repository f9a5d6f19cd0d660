"""The Telegram bot end to end: the real ``Application`` polling the loopback Bot API fake.

Each test pushes the updates a user would cause and asserts the text the bot sent back.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from bot import texts
from bot.app import build_application
from bot.config import BotConfig
from bot.logs import RedactingFilter, setup_logging
from cleanmessy.errors import CorruptImageError
from cleanmessy.feedback import read_feedback_records
from cleanmessy.images import load_image
from cleanmessy.model_info import read_model_info
from cleanmessy.predictor import Predictor
from tests.fakes.telegram import FakeTelegram, encode_image

CHAT = 42


@pytest.fixture(scope="module")
def predictor(tiny_model_dir: Path) -> Predictor:
    return Predictor.load(tiny_model_dir, threads=1)


def make_config(fake: FakeTelegram, tmp_path: Path, **overrides) -> BotConfig:
    values = dict(
        token=fake.token, api_url=fake.url, model_id="tiny", feedback_dir=tmp_path / "feedback",
        rate_limit=100, rate_window=60.0, album_wait=0.3,
    )
    values.update(overrides)
    return BotConfig(**values)


@contextlib.asynccontextmanager
async def polling(config: BotConfig, predictor):
    """The bot's Application, long-polling the fake, for the duration of the block."""
    application = build_application(config, predictor, set_commands=False)
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=1)
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


def converse(fake: FakeTelegram, config: BotConfig, predictor, *updates: dict, replies: int = 1, chat: int = CHAT) -> list[str]:
    """Push ``updates``, wait for ``replies`` messages to ``chat``, return all texts sent there."""

    async def main() -> list[str]:
        async with polling(config, predictor):
            fake.push(*updates)
            await fake.until(lambda f: len(f.texts(chat)) >= replies)
            await asyncio.sleep(0.2)  # anything extra the bot would (wrongly) send arrives now
            return fake.texts(chat)

    return asyncio.run(main())


def expected_reply(predictor: Predictor, *payloads: bytes) -> str:
    verdicts = [predictor.predict(data) for data in payloads]
    return texts.verdict_text(verdicts, predictor.unsure_below)


def buttons(params: dict) -> list[list[str]]:
    return [[button["callback_data"] for button in row] for row in params["reply_markup"]["inline_keyboard"]]


# ---- commands and text ------------------------------------------------------------------------


def test_start_greets_and_says_what_to_send(fake, predictor, tmp_path):
    assert converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=fake.text_message("/start"))) == [
        texts.START
    ]


def test_text_gets_a_hint_and_edits_are_ignored(fake, predictor, tmp_path, room_image):
    edited_photo = fake.photo_message(encode_image(room_image()))
    updates = [
        fake.update(edited_message={**edited_photo, "edit_date": edited_photo["date"] + 5}),
        fake.update(message=fake.text_message("is it clean?")),
    ]
    assert converse(fake, make_config(fake, tmp_path), predictor, *updates) == [texts.HINT]
    assert fake.sent("sendChatAction") == [] and fake.downloads == []  # the edit was not even looked at


def test_help_states_the_configured_limits(fake, predictor, tmp_path):
    config = make_config(fake, tmp_path, rate_limit=7, rate_window=30.0, max_bytes=5 * 1024 * 1024)
    (reply,) = converse(fake, config, predictor, fake.update(message=fake.text_message("/help")))
    assert "Files up to 5 MB" in reply and "Up to 7 photos per 30 s" in reply and "No user ids" in reply


def test_about_reports_model_id_and_measured_accuracy(fake, predictor, tmp_path, tiny_model_dir):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for path in tiny_model_dir.iterdir():
        (model_dir / path.name).write_bytes(path.read_bytes())
    (model_dir / "eval").mkdir()
    (model_dir / "eval" / "metrics.json").write_text(json.dumps({"accuracy": 0.95, "num_examples": 40}))
    evaluated = Predictor.load(model_dir, threads=1)
    (reply,) = converse(fake, make_config(fake, tmp_path), evaluated, fake.update(message=fake.text_message("/about")))
    assert reply == (f"Model: {model_dir}\nMeasured: validation accuracy 95.0% on 40 images.\n"
                     "“Not a room” check: none (the model has no not_a_room.json), so every photo gets clean or messy.")


def test_model_info_falls_back_to_the_model_card_then_says_none(tmp_path):
    card = tmp_path / "carded"
    card.mkdir()
    (card / "README.md").write_text(
        "---\nmodel-index:\n- name: clean-or-messy\n  results:\n  - task:\n      type: image-classification\n"
        "    dataset:\n      name: rooms\n      type: imagefolder\n    metrics:\n    - type: accuracy\n"
        "      value: 0.9125\n      name: Accuracy\n---\n# clean-or-messy\n"
    )
    assert read_model_info(card).describe() == "validation accuracy 91.2%"
    assert read_model_info(tmp_path).accuracy is None


# ---- photos -----------------------------------------------------------------------------------


def test_photo_gets_a_quoted_verdict_with_meter_and_buttons(fake, predictor, tmp_path, room_image):
    data = encode_image(room_image(messy=True))
    message = fake.photo_message(data)
    (reply,) = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=message))
    assert reply == expected_reply(predictor, data)
    verdict = predictor.predict(data)
    assert reply.splitlines()[1] == texts.meter(verdict.confidence)
    (sent,) = fake.sent("sendMessage")
    assert sent["reply_parameters"]["message_id"] == message["message_id"]
    assert buttons(sent) == [["why:0", "right:0", "wrong:0"]]
    assert fake.downloads == [message["photo"][-1]["file_id"]]  # only the largest size


def test_image_document_is_classified(fake, predictor, tmp_path, room_image):
    data = encode_image(room_image(messy=False, size=(120, 90)), format="PNG")
    message = fake.document_message(data, file_name="room.png", mime_type="image/png")
    (reply,) = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=message))
    assert reply == expected_reply(predictor, data)


def test_album_is_answered_once_photo_by_photo(fake, predictor, tmp_path, room_image):
    payloads = [encode_image(room_image(messy=i % 2 == 1, seed=i)) for i in range(3)]
    messages = [fake.photo_message(data, media_group_id="album-1") for data in payloads]
    replies = converse(fake, make_config(fake, tmp_path), predictor, *(fake.update(message=m) for m in messages))
    assert replies == [expected_reply(predictor, *payloads)]
    assert [line.split(":")[0] for line in replies[0].split("\n\n")[:3]] == ["Photo 1", "Photo 2", "Photo 3"]
    (sent,) = fake.sent("sendMessage")
    assert sent["reply_parameters"]["message_id"] == messages[0]["message_id"]
    assert buttons(sent) == [[f"why:{i}", f"right:{i}", f"wrong:{i}"] for i in range(3)]


def test_non_image_document_gets_a_friendly_reply(fake, predictor, tmp_path):
    message = fake.document_message(b"%PDF-1.7 ...", file_name="lease.pdf", mime_type="application/pdf")
    replies = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=message))
    assert replies == [texts.NOT_AN_IMAGE.format(kind="application/pdf")]
    assert fake.downloads == []


@pytest.mark.parametrize(
    ("claimed", "limit", "reply"),
    [
        (25 * 1024 * 1024, 20 * 1024 * 1024, texts.TOO_BIG_FOR_TELEGRAM.format(size="25.0 MB")),
        (3 * 1024 * 1024, 2 * 1024 * 1024, texts.TOO_BIG_FOR_US.format(size="3.0 MB", limit="2.0 MB")),
    ],
    ids=["over-telegram-20MB", "over-project-limit"],
)
def test_too_large_file_is_refused_before_download(fake, predictor, tmp_path, room_image, claimed, limit, reply):
    message = fake.document_message(
        encode_image(room_image()), file_name="huge.jpg", mime_type="image/jpeg", file_size=claimed
    )
    replies = converse(fake, make_config(fake, tmp_path, max_bytes=limit), predictor, fake.update(message=message))
    assert replies == [reply]
    assert fake.downloads == []


def test_corrupt_image_gets_the_core_reason(fake, predictor, tmp_path, room_image):
    data = encode_image(room_image(size=(400, 300)))[:1500]  # a truncated JPEG
    with pytest.raises(CorruptImageError) as error:
        load_image(data)
    message = fake.document_message(data, file_name="room.jpg", mime_type="image/jpeg")
    replies = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=message))
    assert replies == [texts.BAD_IMAGE.format(reason=str(error.value))]


def test_rate_limit_is_answered_politely(fake, predictor, tmp_path, room_image):
    config = make_config(fake, tmp_path, rate_limit=2, rate_window=60.0)
    updates = [fake.update(message=fake.photo_message(encode_image(room_image(seed=i)))) for i in range(3)]

    async def main() -> list[str]:
        async with polling(config, predictor):
            for update in updates:  # one after the other, as a user would send them
                count = len(fake.texts(CHAT))
                fake.push(update)
                await fake.until(lambda f: len(f.texts(CHAT)) > count)
            return fake.texts(CHAT)

    replies = asyncio.run(main())
    assert replies[2].startswith("You're sending photos faster than I can look at them")
    assert "Please wait 60 s" in replies[2]
    assert not replies[1].startswith("You're sending")


# ---- buttons ----------------------------------------------------------------------------------


def tap(fake: FakeTelegram, config: BotConfig, predictor, photo: bytes, data: str, until) -> None:
    """Send a photo, wait for the verdict, tap the button ``data`` under it, wait for ``until``."""

    async def main() -> None:
        async with polling(config, predictor):
            fake.push(fake.update(message=fake.photo_message(photo)))
            await fake.until(lambda f: f.sent("sendMessage"))
            reply = fake.bot_message(CHAT, _last_message_id(fake))
            fake.push(fake.update(callback_query=fake.callback_query(reply, data)))
            await fake.until(until)

    asyncio.run(main())


def _last_message_id(fake: FakeTelegram) -> int:
    return max(key[1] for key, message in fake.messages.items() if message.get("from", {}).get("is_bot"))


def test_feedback_tap_stores_the_correction_and_removes_the_buttons(fake, predictor, tmp_path, room_image):
    config = make_config(fake, tmp_path)
    photo = encode_image(room_image(messy=True))
    verdict = predictor.predict(photo)
    tap(fake, config, predictor, photo, "wrong:0", lambda f: f.sent("editMessageReplyMarkup"))

    corrected = "clean" if verdict.label == "messy" else "messy"
    (answer,) = fake.sent("answerCallbackQuery")
    assert answer["text"] == texts.THANKS[False].format(label=corrected)
    (stored,) = (config.feedback_dir / corrected).glob("*.jpg")
    assert Image.open(stored).size == Image.open(io.BytesIO(photo)).size
    (record,) = read_feedback_records(config.feedback_dir)
    assert record["label"] == corrected and record["predicted"] == verdict.label and record["source"] == "telegram"
    assert set(record) == {"file", "sha256", "label", "predicted", "confidence", "model_was_right", "source", "time"}
    (edit,) = fake.sent("editMessageReplyMarkup")
    assert buttons(edit) == [["why:0"]]


def test_why_sends_the_heatmap_over_the_photo(fake, predictor, tmp_path, room_image):
    photo = encode_image(room_image(messy=True, size=(128, 96)))
    tap(fake, make_config(fake, tmp_path), predictor, photo, "why:0", lambda f: f.sent("editMessageReplyMarkup"))
    (sent,) = fake.sent("sendPhoto")
    assert sent["caption"].startswith("Where I saw mess")
    assert Image.open(io.BytesIO(sent["photo_bytes"])).size == (128, 96)
    (edit,) = fake.sent("editMessageReplyMarkup")
    assert buttons(edit) == [["right:0", "wrong:0"]]


def test_buttons_still_work_after_a_restart(fake, predictor, tmp_path, room_image):
    """A new process remembers nothing: a single photo is found through the quoted message, an album photo is not."""
    config = make_config(fake, tmp_path)
    single = encode_image(room_image(messy=True, seed=5))
    album = [fake.photo_message(encode_image(room_image(seed=i)), media_group_id="a2") for i in range(2)]

    async def answer_then_restart() -> tuple[dict, dict]:
        async with polling(config, predictor):
            fake.push(fake.update(message=fake.photo_message(single)), *(fake.update(message=m) for m in album))
            await fake.until(lambda f: len(f.sent("sendMessage")) == 2)
        bot_replies = [m for m in fake.messages.values() if m["from"].get("is_bot")]
        (album_reply,) = [m for m in bot_replies if m["text"].startswith("Photo 1")]
        (single_reply,) = [m for m in bot_replies if m is not album_reply]
        return single_reply, album_reply

    single_reply, album_reply = asyncio.run(answer_then_restart())

    async def tap_after_restart() -> None:
        async with polling(config, predictor):  # a fresh Application: nothing remembered
            fake.push(fake.update(callback_query=fake.callback_query(single_reply, "right:0")),
                      fake.update(callback_query=fake.callback_query(album_reply, "why:1")))
            await fake.until(lambda f: len(f.sent("answerCallbackQuery")) == 2)

    asyncio.run(tap_after_restart())
    verdict = predictor.predict(single)
    answers = {call["callback_query_id"]: call for call in fake.sent("answerCallbackQuery")}
    assert sorted(a.get("text") for a in answers.values()) == sorted([texts.THANKS[True], texts.PHOTO_GONE])
    (stored,) = (config.feedback_dir / verdict.label).glob("*.jpg")
    assert stored.is_file()
    assert fake.sent("sendPhoto") == []


# ---- limits and failures ----------------------------------------------------------------------


class Instrumented:
    """Wraps a predictor: optional delay and failure, and counts how many predictions overlap."""

    def __init__(self, inner: Predictor, delay: float = 0.0, error: Exception | None = None) -> None:
        self.inner, self.delay, self.error = inner, delay, error
        self.running = self.most = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def predict_batch(self, images):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)  # blocking on purpose: it must not stall the event loop
            if self.error:
                raise self.error
            return self.inner.predict_batch(images)
        finally:
            with self._lock:
                self.running -= 1


def test_slow_predictions_are_bounded_and_do_not_stall_other_chats(fake, predictor, tmp_path, room_image):
    slow = Instrumented(predictor, delay=0.6)
    config = make_config(fake, tmp_path, max_concurrent=1)
    photos = [fake.update(message=fake.photo_message(encode_image(room_image(seed=i)), chat_id=100 + i)) for i in range(3)]
    start = fake.update(message=fake.text_message("/start", chat_id=7))

    async def main() -> None:
        async with polling(config, slow):
            fake.push(*photos, start)
            await fake.until(lambda f: len(f.sent("sendMessage")) == 4, timeout=20)

    asyncio.run(main())
    times = {call.params["chat_id"]: call.time for call in fake.calls if call.method == "sendMessage"}
    assert slow.most == 1
    assert times[7] < min(times[100], times[101], times[102])  # /start answered while photos wait
    assert max(times[100], times[101], times[102]) - min(times[100], times[101], times[102]) >= 2 * 0.6 * 0.9


def test_error_handler_logs_and_apologises_without_leaking_the_token(fake, predictor, tmp_path, room_image, caplog):
    caplog.set_level(logging.DEBUG)
    config = make_config(fake, tmp_path)
    root_level = logging.getLogger().level
    setup_logging(config.secrets, "DEBUG")
    broken = Instrumented(predictor, error=RuntimeError(f"backend exploded near {fake.url}/bot{fake.token}/x"))
    try:
        replies = converse(fake, config, broken, fake.update(message=fake.photo_message(encode_image(room_image()))))
    finally:
        logging.getLogger().setLevel(root_level)
    assert replies == [texts.APOLOGY]
    assert "error while handling an update" in caplog.text and "backend exploded" in caplog.text
    assert "Set Bot API URL" in caplog.text  # python-telegram-bot logged its URLs...
    assert fake.token not in caplog.text  # ...with the token redacted
    assert fake.token.split(":")[1] not in caplog.text


def test_redacting_filter_covers_messages_arguments_encoded_urls_and_tracebacks():
    token, secret = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "webhook-secret-1"
    log = logging.getLogger("tests.redaction")  # any logger: the filter sits on the handler
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter([token, secret]))
    log.addHandler(handler)
    try:
        log.warning("GET https://api.telegram.org/file/bot%s/photos/1.jpg", token.replace(":", "%3A"))
        log.warning("secret header was %s", secret)
        try:
            raise RuntimeError(f"https://api.telegram.org/bot{token}/getMe failed")
        except RuntimeError:
            log.exception("request failed")
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    assert token.split(":")[1] not in output and secret not in output
    assert output.count("[REDACTED]") == 3 and "RuntimeError" in output
