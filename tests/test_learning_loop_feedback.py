"""Feedback that survives: append-only records, the background push, a crash between two pushes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from cleanmessy.feedback import FeedbackStore, is_feedback_folder, read_feedback_records
from cleanmessy.feedback_card import feedback_counts, render_feedback_card
from cleanmessy.feedback_sync import FeedbackSync, start_feedback_sync
from cleanmessy.verdict import Verdict
from tests.helpers import ROOT_DIR, make_room_image

MESSY = Verdict("messy", 0.9, {"clean": 0.1, "messy": 0.9})

CRASHING_WRITER = textwrap.dedent('''
    import os, sys
    from cleanmessy.feedback import FeedbackStore
    from cleanmessy.feedback_sync import FeedbackSync
    from cleanmessy.verdict import Verdict
    from tests.helpers import make_room_image

    folder, repo = sys.argv[1], sys.argv[2]
    store = FeedbackStore(folder)
    verdict = Verdict("messy", 0.9, {"clean": 0.1, "messy": 0.9})
    store.save(make_room_image(messy=True, seed=1), verdict, "messy", source="space")
    sync = FeedbackSync(folder, repo, every=60)
    sync.trigger().result()                      # push 1: the first photo
    store.save(make_room_image(messy=False, seed=2), verdict, "clean", source="space")
    with store.records.open("a") as handle:      # a record cut short by the crash
        handle.write('{"file": "clean/torn')
    os._exit(1)                                  # crash: no atexit push, nothing cleaned up
''')


def pushed_records(hub, repo: str) -> list[dict]:
    files = hub.files(repo, "dataset")
    lines = [line for name, data in files.items() if name.startswith("records/")
             for line in data.decode().splitlines()]
    return [json.loads(line) for line in lines if line.endswith("}")]


def test_a_crash_between_two_pushes_loses_nothing_written_to_disk(hub, tmp_path):
    folder, repo = tmp_path / "feedback", "alice/feedback-crash"
    result = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(folder), repo], cwd=ROOT_DIR,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert [r["label"] for r in pushed_records(hub, repo)] == ["messy"]  # the second photo never left the disk

    sync = FeedbackSync(folder, repo, every=60)  # the restarted process
    try:
        sync.trigger().result()
    finally:
        sync.stop()
    files = hub.files(repo, "dataset")
    local = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.jpg"))
    assert sorted(name for name in files if name.endswith(".jpg")) == local and len(local) == 2
    assert sorted(r["label"] for r in pushed_records(hub, repo)) == ["clean", "messy"]
    card = files["README.md"].decode()
    assert "2 photos (2 corrections)" in card and "No user ids" in card

    commits = len(hub.repo(repo, "dataset").commits)
    again = FeedbackSync(folder, repo, every=60)  # another restart, with nothing new on disk
    again.close()
    assert len(hub.repo(repo, "dataset").commits) == commits  # unchanged files make no commit (the client compares)


def test_two_processes_never_overwrite_each_others_records(tmp_path):
    space, bot = FeedbackStore(tmp_path), FeedbackStore(tmp_path)
    space.save(make_room_image(seed=3), MESSY, "clean", source="space")
    bot.save(make_room_image(messy=True, seed=4), MESSY, "messy", source="telegram")
    assert space.records != bot.records and is_feedback_folder(tmp_path)
    assert sorted(r["source"] for r in read_feedback_records(tmp_path)) == ["space", "telegram"]


def test_card_counts_labels_sources_and_right_or_wrong():
    records = [
        {"sha256": "a", "label": "messy", "model_was_right": True, "source": "space", "time": "2026-01-01T00:00:00Z"},
        {"sha256": "b", "label": "clean", "model_was_right": False, "source": "telegram", "time": "2026-01-02T00:00:00Z"},
        {"sha256": "c", "label": "clean", "model_was_right": False, "source": "telegram", "time": "2026-01-03T00:00:00Z"},
        {"sha256": "c", "label": "clean", "model_was_right": False, "source": "telegram", "time": "2026-01-03T00:00:01Z"},
    ]
    counts = feedback_counts(records)
    assert counts["photos"] == 3 and counts["records"] == 4
    assert counts["sources"] == {"space": 1, "telegram": 2}
    assert counts["labels"] == {"clean": {"wrong": 2}, "messy": {"right": 1}}
    card = render_feedback_card("alice/fb", records)
    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["task_categories"] == ["image-classification"]
    assert "| clean | 0 | 2 | 2 |" in card and "| messy | 1 | 0 | 1 |" in card
    assert "the Telegram bot: 2" in card and "User corrections" in card


def test_no_feedback_repo_means_no_background_push(monkeypatch, tmp_path):
    monkeypatch.delenv("FEEDBACK_REPO", raising=False)
    assert start_feedback_sync(tmp_path) is None


def test_a_rejected_token_keeps_serving_with_feedback_on_disk(hub, tmp_path, caplog):
    with hub.tokens_required({"hf_good": ["alice"]}):
        assert start_feedback_sync(tmp_path, "alice/fb-denied", token="hf_bad") is None
    assert "feedback stays on disk only" in caplog.text and "hf_bad" not in caplog.text


def test_store_files_are_only_ever_added_or_appended(tmp_path):
    store = FeedbackStore(tmp_path)
    first = store.save(make_room_image(seed=5), MESSY, "messy", source="space")
    before = {p: p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file()}
    store.save(make_room_image(seed=6), MESSY, "clean", source="space")
    after = {p: p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file()}
    assert first in after and all(after[p].startswith(data) for p, data in before.items())


def test_scraper_push_of_a_feedback_folder_tells_the_truth(hub, tmp_path):
    from scraper.push import push_dataset

    store = FeedbackStore(tmp_path)
    store.save(make_room_image(seed=7), MESSY, "clean", source="space")
    store.save(make_room_image(messy=True, seed=8), MESSY, "messy", source="telegram")
    push_dataset(tmp_path, "alice/pushed-feedback")
    files = hub.files("alice/pushed-feedback", "dataset")
    card = files["README.md"].decode()
    assert "User corrections" in card and "python -m scraper scrape" not in card and "near-duplicates" not in card
    assert "| clean | 0 | 1 | 1 |" in card and "| messy | 1 | 0 | 1 |" in card
    assert sorted(name.split("/")[0] for name in files if name.endswith(".jpg")) == ["clean", "messy"]
    assert any(name.startswith("records/") for name in files)


def test_the_bot_process_pushes_its_feedback_when_stopped(hub, tiny_model_dir, tmp_path):
    import signal

    from tests.fakes.telegram import FakeTelegram, encode_image
    from tests.test_bot_modes import bot_env, start_bot

    with FakeTelegram() as fake:
        env = bot_env(fake, tiny_model_dir, tmp_path) | {
            "HF_HUB_OFFLINE": "0", "FEEDBACK_REPO": "alice/bot-feedback", "FEEDBACK_PUSH_MINUTES": "60"}
        process, log = start_bot(["--mode", "polling"], env, tmp_path)
        try:
            fake.wait_for(lambda f: any(c.method == "getUpdates" for c in f.calls), 90)
            fake.push(fake.update(message=fake.photo_message(encode_image(make_room_image(messy=True)))))
            fake.wait_for(lambda f: f.sent("sendMessage"), 60)
            reply_id = max(key[1] for key, message in fake.messages.items() if message.get("from", {}).get("is_bot"))
            fake.push(fake.update(callback_query=fake.callback_query(fake.bot_message(42, reply_id), "wrong:0")))
            fake.wait_for(lambda f: f.sent("answerCallbackQuery"), 60)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 0, log.read_text()
    files = hub.files("alice/bot-feedback", "dataset")
    assert len([name for name in files if name.endswith(".jpg")]) == 1
    assert "the Telegram bot: 1" in files["README.md"].decode()
