"""Push the feedback folder to a Hub dataset repo in the background (``FEEDBACK_REPO``).

``huggingface_hub.CommitScheduler`` uploads the files that changed since its last push,
every ``FEEDBACK_PUSH_MINUTES`` and once more at interpreter exit. The folder is append-only
(see :mod:`cleanmessy.feedback`), so a push can happen at any moment, and a process that
dies between two pushes loses nothing on disk: the next process's first push (at start-up)
uploads what is missing (``create_commit`` compares each file with the repo's copy, so files
already there are neither sent nor committed again). After each push the dataset card is regenerated from every
records file in the repo (the Space's and the bot's), so its counts cover all of them.

The Space and the bot only call :func:`start_feedback_sync` at start-up and
:meth:`FeedbackSync.close` at shutdown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from huggingface_hub import CommitScheduler, hf_hub_download

from cleanmessy import settings
from cleanmessy.errors import CleanMessyError
from cleanmessy.feedback import RECORDS_DIR
from cleanmessy.feedback_card import render_feedback_card
from cleanmessy.hub import hub_errors, redact

logger = logging.getLogger(__name__)
CARD = "README.md"


class FeedbackSync(CommitScheduler):
    """A ``CommitScheduler`` for a feedback folder that also keeps the dataset card up to date."""

    def __init__(self, folder: str | Path, repo_id: str, *, every: float, token: str | None = None,
                 private: bool = True) -> None:
        super().__init__(repo_id=repo_id, folder_path=folder, every=every, repo_type="dataset",
                         private=private, token=token, ignore_patterns=["*.part", CARD])

    def push_to_hub(self):
        """Upload new and grown files (``CommitScheduler``), then refresh the card if the counts changed."""
        commit = super().push_to_hub()
        if commit is not None:
            self.update_card()
            logger.info("feedback pushed to %s: %s", self.repo_id, commit.commit_url)
        return commit

    def _remote_records(self) -> list[dict]:
        files = [name for name in self.api.list_repo_files(self.repo_id, repo_type="dataset")
                 if name.startswith(f"{RECORDS_DIR}/") and name.endswith(".jsonl")]
        records = []
        for name in sorted(files):
            path = hf_hub_download(self.repo_id, name, repo_type="dataset", token=self.token)
            for line in Path(path).read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a torn last line: pushed whole next time
        return records

    def update_card(self) -> None:
        """Rewrite ``README.md`` in the repo from all the records it holds, when the text changed."""
        card = render_feedback_card(self.repo_id, self._remote_records())
        try:
            current = Path(hf_hub_download(self.repo_id, CARD, repo_type="dataset", token=self.token)).read_text("utf-8")
        except Exception:  # no card yet
            current = None
        if card != current:
            self.api.upload_file(path_or_fileobj=card.encode("utf-8"), path_in_repo=CARD, repo_id=self.repo_id,
                                 repo_type="dataset", commit_message="Feedback dataset card")

    def close(self) -> None:
        """Push what is left now and stop the schedule (the atexit push then does nothing); never raises."""
        try:
            self.trigger().result()
        except Exception as error:  # logged by the scheduler too; the files stay on disk for the next start
            logger.error("the last feedback push to %s failed; it is retried at the next start: %s",
                         self.repo_id, redact(str(error), self.token))
        finally:
            self.stop()


def start_feedback_sync(folder: str | Path, repo_id: str | None = None, *, every: float | None = None,
                        token: str | None = None) -> FeedbackSync | None:
    """Start pushing ``folder`` to ``repo_id`` (default ``$FEEDBACK_REPO``); ``None`` when no repo is set.

    A Hub failure at start-up (bad token, no network) is logged, and serving goes on with the
    feedback kept on disk only: the next start pushes it.
    """
    repo_id = repo_id or settings.feedback_repo()
    if not repo_id:
        return None
    token = token or settings.hf_token()
    every = every or settings.feedback_push_minutes()
    try:
        with hub_errors(repo_id, "dataset", action="push to", token=token):
            sync = FeedbackSync(folder, repo_id, every=every, token=token)
    except CleanMessyError as error:
        logger.error("feedback stays on disk only (%s): %s", folder, error)
        return None
    logger.info("feedback in %s is pushed to dataset %s every %g min and at shutdown", folder, repo_id, every)
    return sync
