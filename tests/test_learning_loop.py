"""The learning loop end to end, on the loopback Hub and the loopback Bot API.

Corrections through the Space API and the bot -> pushed by the scheduler to a feedback dataset
-> training from base images + that dataset -> promotion refused for a model trained on flipped
labels -> accepted (and tagged) for a good one -> the Space started with MODEL_REVISION=<tag>
serves exactly that revision. Tiny random models and generated images: no ../shared needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from gradio_client import Client, handle_file
from PIL import Image

from cleanmessy.feedback_sync import FeedbackSync
from cleanmessy.labels import LABELS
from cleanmessy.predictor import Predictor
from tests.fakes.telegram import FakeTelegram, encode_image
from tests.helpers import ROOT_DIR, free_port, make_distinct_room_image, write_image_folder
from tests.space_helpers import running_space
from tests.test_bot import make_config, tap
from training.cli import main as train_main
from training.promote import main as promote_main
from training.publish import push_model

MODEL_REPO, FEEDBACK_REPO = "loop/clean-or-messy", "loop/feedback"
TRAIN_FLAGS = ["--epochs", "6", "--batch-size", "6", "--lr", "2e-3", "--no-export-onnx"]


def train(tmp_path: Path, name: str, base_model: Path, *data: str | Path) -> Path:
    output = tmp_path / name
    args = [arg for source in data for arg in ("--data", str(source))]
    assert train_main([*args, "--base", str(base_model), "--output", str(output), *TRAIN_FLAGS]) == 0
    return output


def flipped(folder: Path, into: Path) -> Path:
    """``folder`` with the training labels swapped (validation left true): a deliberately worse model's data."""
    shutil.copytree(folder / "validation", into / "validation")
    for label, other in zip(LABELS, reversed(LABELS)):
        shutil.copytree(folder / "train" / label, into / "train" / other)
    return into


def true_label(seed: int) -> tuple[str, bytes]:
    messy = seed % 2 == 1
    return ("messy" if messy else "clean"), encode_image(make_distinct_room_image(messy=messy, seed=seed))


def correct_through_the_space(model: Path, folder: Path, tmp_path: Path, seeds: range, extra: list[Path]) -> None:
    """Check photos in the Space and press 👍/👎 as a truthful user would."""
    with running_space(model, folder) as (url, _):
        client = Client(url, verbose=False)
        photos = []
        for seed in seeds:
            label, data = true_label(seed)
            (path := tmp_path / f"space-{seed}.jpg").write_bytes(data)
            photos.append((label, path))
        photos += [(path.parent.name, path) for path in extra]
        for label, path in photos:
            _, meter, _, _ = client.predict(handle_file(path), api_name="/check")
            client.predict(api_name="/feedback_right" if meter["label"] == label else "/feedback_wrong")


def correct_through_the_bot(model: Path, folder: Path, tmp_path: Path, seeds: range) -> None:
    predictor = Predictor.load(model, threads=1)
    for seed in seeds:
        label, photo = true_label(seed)
        with FakeTelegram() as fake:
            config = make_config(fake, tmp_path, feedback_dir=folder)
            answer = "right:0" if predictor.predict(photo).label == label else "wrong:0"
            tap(fake, config, predictor, photo, answer, lambda f: f.sent("editMessageReplyMarkup"))


def push_with_the_scheduler(folder: Path) -> None:
    sync = FeedbackSync(folder, FEEDBACK_REPO, every=60)
    sync.close()  # the push at shutdown


def read_config_footer(url: str) -> str:
    with urllib.request.urlopen(f"{url}/config", timeout=30) as response:
        config = json.load(response)
    (footer,) = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "footer"]
    return footer


def test_corrections_become_a_candidate_that_is_promoted_only_when_not_worse(hub, tiny_model_dir, tmp_path, capsys):
    base = write_image_folder(tmp_path / "base", per_class=6, make=make_distinct_room_image)
    current = train(tmp_path, "current", tiny_model_dir, base)
    push_model(current, MODEL_REPO)
    assert promote_main(["--candidate", str(current), "--current", str(current), "--eval", str(base),
                         "--push-to-hub", MODEL_REPO]) == 0  # the first release: v1
    assert hub.repo(MODEL_REPO).tags.keys() == {"v1"}

    # 1. corrections through the Space API and the bot; one is a re-sized copy of a validation photo
    near_copy = tmp_path / "messy" / "validation-copy.jpg"
    near_copy.parent.mkdir()
    shown = next((base / "validation" / "messy").glob("*.png"))
    Image.open(shown).resize((120, 100)).save(near_copy, quality=85)
    space_feedback, bot_feedback = tmp_path / "space-feedback", tmp_path / "bot-feedback"
    correct_through_the_space(current, space_feedback, tmp_path, range(500, 504), [near_copy])
    correct_through_the_bot(current, bot_feedback, tmp_path, range(600, 602))

    # 2. the scheduler pushes both folders into one feedback dataset, neither overwriting the other
    push_with_the_scheduler(space_feedback)
    push_with_the_scheduler(bot_feedback)
    files = hub.files(FEEDBACK_REPO, "dataset")
    assert len([name for name in files if name.endswith(".jpg")]) == 7
    assert len([name for name in files if name.startswith("records/")]) == 3  # one per process: Space, 2 bot runs
    card = files["README.md"].decode()
    assert "7 photos (7 corrections)" in card and "the Gradio Space: 5" in card and "the Telegram bot: 2" in card

    # 3. training from base images + that dataset; the near-copy of a validation photo is dropped
    capsys.readouterr()
    good = train(tmp_path, "good", tiny_model_dir, base, FEEDBACK_REPO)
    printed = capsys.readouterr().out
    assert "18 train, 12 validation images from 2 source(s); dropped from train: 1 near-duplicate(s) of " \
           "validation photos, 0 near-duplicate(s) of other training photos" in printed
    good_card = (good / "README.md").read_text()
    assert f"| `{FEEDBACK_REPO}` | feedback dataset | 7 | 0 | 6 | 1 | 0 |" in good_card
    assert f"| `{base}` | image folder | 12 | 12 | 12 | 0 | 0 |" in good_card

    # 4. a model trained on flipped labels is refused, and nothing is pushed or tagged
    worse = train(tmp_path, "worse", tiny_model_dir, flipped(base, tmp_path / "flipped"))
    head = hub.repo(MODEL_REPO).head
    capsys.readouterr()
    assert promote_main(["--candidate", str(worse), "--current", f"{MODEL_REPO}@v1", "--eval", str(base),
                         "--push-to-hub", MODEL_REPO]) == 1
    assert "refused: the candidate is worse beyond noise" in capsys.readouterr().err
    assert hub.repo(MODEL_REPO).head == head and hub.repo(MODEL_REPO).tags.keys() == {"v1"}
    assert "**Refused**" in (worse / "README.md").read_text()

    # 5. the good one is accepted, pushed and tagged v2, the comparison in its card
    assert promote_main(["--candidate", str(good), "--current", f"{MODEL_REPO}@v1", "--eval", str(base),
                         "--push-to-hub", MODEL_REPO]) == 0
    out = capsys.readouterr().out
    tags = hub.repo(MODEL_REPO).tags
    assert tags.keys() == {"v1", "v2"} and tags["v2"] == hub.repo(MODEL_REPO).head != tags["v1"]
    assert "tagged v2" in out and "macro F1" in out and "ECE" in out
    pushed_card = hub.files(MODEL_REPO)["README.md"].decode()
    assert "## Promotion check" in pushed_card and "**Accepted**" in pushed_card
    push_model(worse, MODEL_REPO)  # main moves on to something else: the pin must not follow it

    # 6. the Space started with MODEL_REVISION=v2 serves exactly that revision
    port = free_port()
    env = {**os.environ, "MODEL_ID": MODEL_REPO, "MODEL_REVISION": "v2", "FEEDBACK_DIR": str(tmp_path / "fb-v2"),
           "FEEDBACK_REPO": "loop/feedback-v2", "FEEDBACK_PUSH_MINUTES": "60", "TORCH_THREADS": "1",
           "HF_HUB_OFFLINE": "0"}
    process = subprocess.Popen([sys.executable, "space/app.py", "--port", str(port)], cwd=ROOT_DIR, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while not any("is serving" in line for line in lines) and time.monotonic() < deadline:
            assert process.poll() is None, "".join(lines)
            time.sleep(0.5)
        served = f"{MODEL_REPO}@v2 (commit {tags['v2'][:12]})"
        assert any(served in line and "is serving" in line for line in lines), "".join(lines)
        url = f"http://127.0.0.1:{port}"
        assert served in read_config_footer(url)
        photo = tmp_path / "space-500.jpg"
        client = Client(url, verbose=False)
        answer = client.predict(handle_file(photo), api_name="/predict")
        assert answer == Predictor.load(good, threads=1).predict(photo).to_dict()
        client.predict(handle_file(photo), api_name="/check")
        client.predict(api_name="/feedback_right")
    finally:
        process.terminate()
    assert process.wait(timeout=60) == 0, "".join(lines)  # SIGTERM, as a Space is stopped: a clean shutdown...
    pushed = hub.files("loop/feedback-v2", "dataset")  # ...that pushed the feedback given since the last push
    assert len([name for name in pushed if name.endswith(".jpg")]) == 1 and "README.md" in pushed
