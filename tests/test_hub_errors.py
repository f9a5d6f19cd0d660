"""Hub failures a user can fix get one clear line from every command, and the token is never printed.

The loopback Hub runs in token-required mode here: ``alice`` and ``bob`` each own their namespace.
"""

from __future__ import annotations

import shutil
import uuid

import pytest
from huggingface_hub import HfApi

from cleanmessy.errors import ModelLoadError
from cleanmessy.hub import ForbiddenError, InvalidTokenError, MissingImageProcessorError, NoTokenError, redact
from cleanmessy.predictor import Predictor
from scraper.__main__ import main as scraper_main
from space.deploy import deploy_space
from space.deploy import main as deploy_main
from tests.helpers import write_image_folder
from tests.hub_helpers import make_scratch_project
from training.publish import push_model

ALICE, BOB, WRONG = "hf_alicesecret0123456789", "hf_bobsecret0123456789", "hf_notatoken9876543210"
TOKENS = {ALICE: ["alice"], BOB: ["bob"]}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("rooms"), per_class=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_model_dir):
    """A complete model dir, one without its image processor, and both pushed to alice's namespace."""
    complete = tiny_model_dir
    incomplete = tmp_path_factory.mktemp("no-processor")
    for path in complete.iterdir():
        if path.name != "preprocessor_config.json" and path.is_file():
            shutil.copy(path, incomplete / path.name)
    suffix = uuid.uuid4().hex[:6]
    api = HfApi(token=ALICE)
    pushed = {"complete": f"alice/model-{suffix}", "incomplete": f"alice/no-processor-{suffix}"}
    for kind, folder_path in (("complete", complete), ("incomplete", incomplete)):
        api.create_repo(pushed[kind])
        api.upload_folder(repo_id=pushed[kind], folder_path=folder_path)
    return {"complete": complete, "incomplete": incomplete, **{f"{k}_repo": v for k, v in pushed.items()}}


@pytest.fixture(scope="module")
def scratch_project(tmp_path_factory):
    return make_scratch_project(tmp_path_factory.mktemp("project"))


@pytest.fixture
def locked_hub(hub, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with hub.tokens_required(TOKENS):
        yield hub


def one_error_line(capsys, *fragments: str) -> str:
    """The single ``error: ...`` line the command printed; checks the fragments and that no token leaked."""
    captured = capsys.readouterr()
    output = captured.out + captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    for token in (ALICE, BOB, WRONG):
        assert token not in output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def repo(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# -- the scraper's dataset push ------------------------------------------------------------------

def test_dataset_push_without_token(locked_hub, folder, capsys):
    assert scraper_main(["push", "--data", str(folder), "--repo", repo("alice/rooms")]) == 2
    one_error_line(capsys, "needs a token", "HF_TOKEN")


def test_dataset_push_with_wrong_token(locked_hub, folder, capsys, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRONG)
    assert scraper_main(["push", "--data", str(folder), "--repo", repo("alice/rooms")]) == 2
    one_error_line(capsys, "token was rejected (401 Unauthorized)", "settings/tokens")


def test_dataset_push_to_a_namespace_you_do_not_own(locked_hub, folder, capsys):
    target = repo("alice/rooms")
    assert scraper_main(["push", "--data", str(folder), "--repo", target, "--token", BOB]) == 2
    one_error_line(capsys, "403 Forbidden", "namespace 'alice' is not yours")
    assert ("dataset", target) not in locked_hub.repos  # other tests' alice/rooms-* may share this Hub


def test_dataset_push_of_a_folder_without_labels(locked_hub, tmp_path, capsys):
    (tmp_path / "dogs").mkdir()
    assert scraper_main(["push", "--data", str(tmp_path), "--repo", repo("alice/rooms"), "--token", ALICE]) == 2
    one_error_line(capsys, "clean")


# -- training's model push -------------------------------------------------------------------------

def test_model_push_errors_are_typed_one_liners(locked_hub, models):
    target = repo("alice/model")
    with pytest.raises(NoTokenError) as no_token:
        push_model(models["complete"], target)
    with pytest.raises(InvalidTokenError) as wrong:
        push_model(models["complete"], target, token=WRONG)
    with pytest.raises(ForbiddenError) as foreign:
        push_model(models["complete"], target, token=BOB)
    with pytest.raises(MissingImageProcessorError) as no_processor:
        push_model(models["incomplete"], target, token=ALICE)
    for error in (no_token, wrong, foreign, no_processor):
        message = str(error.value)
        assert "\n" not in message and WRONG not in message and BOB not in message
    assert "preprocessor_config.json" in str(no_processor.value)
    assert ("model", target) not in locked_hub.repos


# -- loading a model from the Hub ------------------------------------------------------------------

def test_loading_a_missing_repo(locked_hub):
    with pytest.raises(ModelLoadError, match=r"^model repo alice/does-not-exist was not found at .*\(user/name\)"):
        Predictor.load("alice/does-not-exist", token=ALICE)
    with pytest.raises(ModelLoadError, match="or it is private and no token was given"):
        Predictor.load("alice/does-not-exist")


def test_loading_with_a_wrong_token(locked_hub, models):
    with pytest.raises(ModelLoadError) as error:
        Predictor.load(models["complete_repo"], token=WRONG)
    assert "token was rejected (401 Unauthorized)" in str(error.value) and WRONG not in str(error.value)
    assert Predictor.load(models["complete_repo"], token=ALICE).predict_batch([]) == []


def test_loading_a_model_repo_without_image_processor(locked_hub, models):
    with pytest.raises(ModelLoadError, match=r"has no image processor \(preprocessor_config.json\)") as error:
        Predictor.load(models["incomplete_repo"], token=ALICE)
    assert "\n" not in str(error.value)


# -- Space deploy ----------------------------------------------------------------------------------

def test_deploy_needs_an_existing_model(locked_hub, capsys):
    assert deploy_main(["--repo", repo("alice/app"), "--model", "alice/never-pushed", "--token", ALICE]) == 2
    one_error_line(capsys, "model repo alice/never-pushed was not found")


def test_deploy_refuses_a_model_without_image_processor(locked_hub, models, capsys):
    assert deploy_main(["--repo", repo("alice/app"), "--model", models["incomplete_repo"], "--token", ALICE]) == 2
    one_error_line(capsys, "has no image processor (preprocessor_config.json)")


def test_deploy_to_a_namespace_you_do_not_own(locked_hub, models, scratch_project):
    with pytest.raises(ForbiddenError) as error:  # bob may read alice's public model, not write to carol's
        deploy_space(repo("carol/app"), models["complete_repo"], token=BOB, space_dir=scratch_project / "space")
    assert str(error.value).startswith("your token may not deploy to space repo carol/app-")
    assert "403 Forbidden" in str(error.value) and BOB not in str(error.value)


def test_redact_hides_tokens():
    assert redact(f"bad token {WRONG} and {ALICE}", WRONG) == "bad token *** and ***"
