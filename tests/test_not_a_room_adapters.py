"""The "not a room" answer through the Space's API and page and the bot's reply and /about, with a gated tiny model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from bot import texts
from cleanmessy.model_info import read_model_info
from cleanmessy.predictor import Predictor
from tests.fakes.telegram import FakeTelegram
from tests.gate_helpers import gated_tiny_model, unseen_not_rooms, unseen_rooms
from tests.space_helpers import running_space
from tests.test_bot import CHAT, make_config, polling


@pytest.fixture(scope="module")
def gated() -> Path:
    return gated_tiny_model()


@pytest.fixture(scope="module")
def predictor(gated: Path) -> Predictor:
    return Predictor.load(gated, threads=1)


@pytest.fixture(scope="module")
def pictures(gated: Path, predictor: Predictor, tmp_path_factory) -> dict[str, Path]:
    """A picture the gate flags and a room it passes, as files."""
    folder = tmp_path_factory.mktemp("pictures")
    other = next(image for image in unseen_not_rooms(8) if predictor.predict(image).not_a_room)
    room = next(image for image in unseen_rooms(6) if not predictor.predict(image).not_a_room)
    other.save(folder / "cat.png")
    room.save(folder / "room.png")
    return {"other": folder / "cat.png", "room": folder / "room.png"}


@pytest.fixture(scope="module")
def space(gated: Path, tmp_path_factory):
    with running_space(gated, tmp_path_factory.mktemp("feedback")) as (url, service):
        yield url, service


def test_space_predict_and_batch_answer_not_a_room(space, pictures) -> None:
    client = Client(space[0], verbose=False)
    other = client.predict(handle_file(pictures["other"]), api_name="/predict")
    room = client.predict(handle_file(pictures["room"]), api_name="/predict")
    assert other["not_a_room"] is True and other["label"] in {"clean", "messy"} and set(other["scores"]) == {
        "clean", "messy"}
    assert room["not_a_room"] is False
    batch = client.predict([handle_file(pictures["other"]), handle_file(pictures["room"])], api_name="/predict_batch")
    assert [(r["file"], r["not_a_room"]) for r in batch] == [("cat.png", True), ("room.png", False)]


def test_space_page_headline_says_not_a_room_with_the_leaning_in_small_print(space, pictures) -> None:
    from space.service import verdict_markdown

    verdict = space[1].predictor.predict(pictures["other"])
    markdown = verdict_markdown(verdict, 0.65)
    assert markdown == f"## 🤔 That doesn't look like a room\n<small>({verdict.leaning})</small>"
    assert verdict.leaning.startswith("if it is a room, it leans ")


def converse(fake: FakeTelegram, config, predictor, update: dict) -> str:
    async def main() -> str:
        async with polling(config, predictor):
            fake.push(update)
            await fake.until(lambda f: len(f.texts(CHAT)) >= 1)
            return fake.texts(CHAT)[0]

    return asyncio.run(main())


def test_bot_reply_says_not_a_room_with_the_leaning(predictor, pictures, tmp_path) -> None:
    data = pictures["other"].read_bytes()
    verdict = predictor.predict(data)
    with FakeTelegram() as fake:
        reply = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=fake.photo_message(data)))
    assert reply.splitlines() == ["🤔 That doesn't look like a room", f"({verdict.leaning})", texts.NOT_A_ROOM_HINT]


def test_bot_room_reply_is_unchanged(predictor, pictures, tmp_path) -> None:
    data = pictures["room"].read_bytes()
    with FakeTelegram() as fake:
        reply = converse(fake, make_config(fake, tmp_path), predictor, fake.update(message=fake.photo_message(data)))
    assert "room" not in reply.splitlines()[0] and texts.meter(predictor.predict(data).confidence) in reply


def test_bot_about_describes_the_gate(predictor, gated, tmp_path) -> None:
    with FakeTelegram() as fake:
        reply = converse(fake, make_config(fake, tmp_path), predictor,
                         fake.update(message=fake.text_message("/about")))
    info = read_model_info(gated)
    assert reply.splitlines()[-1] == info.describe_gate() + "."
    assert reply.splitlines()[-1].startswith("“Not a room” check: on;") and " wrongly flags " in reply


def test_about_prefers_the_rates_measured_on_rooms_the_backbone_never_saw() -> None:
    from cleanmessy.model_info import ModelInfo

    info = {"held_out_rooms_flagged": 0.005, "held_out_not_rooms_flagged": {"real:a": 1.0},
            "recipe_cv": {"runs": 20, "rooms": 0.012, "not_rooms_category": 0.95, "not_rooms_source": 0.96}}
    assert ModelInfo("m", gate=info).describe_gate() == (
        "“Not a room” check: on; in cross-validation it wrongly flags 1.2% of unseen rooms and catches 95% of "
        "non-room photos of kinds it never saw")
    del info["recipe_cv"]
    assert ModelInfo("m", gate=info).describe_gate() == (
        "“Not a room” check: on; it wrongly flags 0.5% of held-out rooms and catches 100% of non-room photos from "
        "held-out sources")
