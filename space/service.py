"""What the Space does for each request, independent of the page layout.

Every user-facing failure leaves here as ``gr.Error`` with the core's message: the UI shows it
in a toast, the API client gets it as an error; nobody sees a stack trace.
"""

from __future__ import annotations

import html
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
from PIL import Image

from cleanmessy.errors import CleanMessyError
from cleanmessy.explain import explain
from cleanmessy.feedback import FeedbackStore
from cleanmessy.images import ImageSource, load_image
from cleanmessy.intake import classify_decoded, classify_photos, decode_photos
from cleanmessy.labels import LABELS
from cleanmessy.verdict import Verdict
from space.batcher import Batcher

logger = logging.getLogger(__name__)

DISPLAY_SIDE = 1024
"""Longest side of the heatmap image sent to the browser."""

UNEXPECTED = "Something went wrong on our side. Please try again."


@contextmanager
def user_errors(name: str | None = None) -> Iterator[None]:
    """Turn core errors into ``gr.Error`` (prefixed with the file name if given); hide anything unexpected."""
    try:
        yield
    except gr.Error:
        raise
    except CleanMessyError as error:
        message = f"{name}: {error}" if name else str(error)
        raise gr.Error(html.escape(message), print_exception=False) from None
    except Exception:
        logger.exception("unexpected failure")
        raise gr.Error(UNEXPECTED, print_exception=False) from None


def upload_path(payload: Any) -> Path:
    """The local path of a file that Gradio received, refusing anything outside its upload folder.

    ``payload`` is a ``FileData`` dict (API and UI events run with ``preprocess=False``) or a path.
    """
    path = payload.get("path") if isinstance(payload, dict) else payload
    if not path:
        raise gr.Error("No photo received: upload an image file.", print_exception=False)
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(gr.utils.get_upload_folder()).resolve()):
        raise gr.Error("Send the photo as an uploaded file (gradio_client: handle_file(path)).", print_exception=False)
    return resolved


def display_name(payload: Any) -> str:
    """The name the user gave the file, for messages."""
    if isinstance(payload, dict) and payload.get("orig_name"):
        return str(payload["orig_name"])
    return Path(payload.get("path", "") if isinstance(payload, dict) else str(payload)).name


def verdict_markdown(verdict: Verdict, threshold: float) -> str:
    """The headline for people, with the honest "hard to say" band spelled out, or "not a room" with the leaning in small print."""
    if verdict.not_a_room:
        return f"## 🤔 {verdict.headline}\n<small>({html.escape(verdict.leaning)})</small>"
    if verdict.unsure:
        return (
            f"## 🤷 {verdict.headline}\n"
            f"The model is less than {threshold:.0%} sure either way, so it won't settle this one."
        )
    icon = "🧹" if verdict.label == "messy" else "✨"
    return f"## {icon} {verdict.headline}"


class SpaceService:
    """Holds the loaded model and answers the Space's requests."""

    def __init__(self, predictor, *, max_batch: int, feedback_dir: str | Path) -> None:
        self.predictor = predictor
        self.model_lock = threading.Lock()
        self.batcher = Batcher(predictor, max_batch=max_batch, lock=self.model_lock)
        self.feedback = FeedbackStore(feedback_dir)

    def close(self) -> None:
        self.batcher.close()

    def load(self, payload: Any) -> Image.Image:
        """Decode and check one uploaded photo with the core's intake."""
        path = upload_path(payload)
        with user_errors():
            return self.predictor.decode(path)

    def _decode(self, payload: Any) -> Image.Image | CleanMessyError:
        """One upload decoded, or the reason it cannot be used (its message already user-facing)."""
        try:
            return decode_photos(self.predictor, [upload_path(payload)])[0]
        except gr.Error as error:
            return CleanMessyError(html.unescape(error.message))
        except Exception:  # noqa: BLE001 - this photo fails alone, as a bad upload would
            logger.exception("unexpected failure")
            return CleanMessyError(UNEXPECTED)

    # --- API -------------------------------------------------------------------------------

    def classify(self, source: ImageSource) -> dict:
        """The verdict dict for one photo (bytes or a path), through the shared micro-batcher.

        The door every API shares (``/predict``, REST, MCP); raises the core's ``CleanMessyError``.
        """
        return self.batcher.predict([self.predictor.decode(source)])[0].to_dict()

    def classify_many(self, named: list[tuple[str, ImageSource]]) -> list[dict]:
        """``{file, ...verdict}`` per photo, in order, or ``{file, error}`` for a bad one; the good ones share passes."""
        results = classify_photos(self.predictor, [source for _, source in named], passes=self.batcher.predict)
        return [{"file": name, **(result.to_dict() if isinstance(result, Verdict) else {"error": str(result)})}
                for (name, _), result in zip(named, results)]

    def predict(self, payload: Any) -> dict:
        """``{label, confidence, scores, unsure, not_a_room}`` for one photo."""
        path = upload_path(payload)
        with user_errors():
            return self.classify(path)

    def predict_many(self, payloads: list[Any]) -> list[dict]:
        """One result per photo, in order: ``file`` plus the verdict dict, or ``{file, error}`` for a bad photo."""
        return [result for result, _ in self._answer_many(payloads)]

    def _answer_many(self, payloads: list[Any] | None) -> list[tuple[dict, Image.Image | None]]:
        """Decode each photo on its own (a bad one is reported, not fatal), then classify the rest together."""
        if not payloads:
            raise gr.Error("No photos received: upload one or more image files.", print_exception=False)
        decoded = [self._decode(payload) for payload in payloads]
        if not any(isinstance(item, Image.Image) for item in decoded):
            problems = "; ".join(f"{display_name(payload)}: {error}" for payload, error in zip(payloads, decoded))
            raise gr.Error(html.escape(problems), print_exception=False)
        with user_errors():
            results = classify_decoded(decoded, self.batcher.predict)
        answers: list[tuple[dict, Image.Image | None]] = []
        for payload, item, result in zip(payloads, decoded, results):
            answer = {"file": display_name(payload)}
            if isinstance(result, Verdict):
                answers.append(({**answer, **result.to_dict()}, item))
            else:
                answers.append(({**answer, "error": str(result)}, None))
        return answers

    # --- UI --------------------------------------------------------------------------------

    def check(self, payload: Any) -> tuple[str, dict, Image.Image, dict]:
        """Verdict line, both class scores, the heatmap overlay, and the state feedback needs."""
        image = self.load(payload)
        with user_errors():
            verdict = self.batcher.predict([image])[0]
            with self.model_lock:
                overlay = explain(self.predictor, image).overlay
        overlay.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE))
        state = {"path": str(upload_path(payload)), "verdict": verdict.to_dict()}
        return verdict_markdown(verdict, self.predictor.unsure_below), verdict.scores, overlay, state

    def check_many(self, payloads: list[Any] | None) -> tuple[list[tuple[Image.Image, str]], str]:
        """A captioned gallery and a summary table for several photos answered in shared passes."""
        gallery, rows, problems = [], [], []
        for result, image in self._answer_many(payloads):
            name = html.escape(result["file"]).replace("|", "\\|")
            if image is None:
                problems.append(f"- **{name}**: {html.escape(result['error'])}")
                continue
            headline = Verdict(result["label"], result["confidence"], result["scores"], result["unsure"],
                               result["not_a_room"]).headline
            image.thumbnail((256, 256))
            gallery.append((image, f"{result['file']}: {headline}"))
            scores = " | ".join(f"{result['scores'][label]:.0%}" for label in LABELS)
            rows.append(f"| {name} | {headline} | {scores} |")
        header = "| photo | verdict | " + " | ".join(LABELS) + " |\n|---|---|" + "---|" * len(LABELS) + "\n"
        summary = header + "\n".join(rows)
        if problems:
            summary += "\n\n**Skipped:**\n" + "\n".join(problems)
        return gallery, summary

    def record_feedback(self, state: dict | None, model_was_right: bool) -> str:
        """Store the photo under its correct label (👍: the model's, 👎: the other one)."""
        if not state:
            raise gr.Error("Check a photo first, then tell us whether the answer was right.", print_exception=False)
        verdict = Verdict(**state["verdict"])
        correct = verdict.label if model_was_right else next(label for label in LABELS if label != verdict.label)
        with user_errors():
            image = load_image(upload_path(state["path"]))
            self.feedback.save(image, verdict, correct, source="space")
        return f"Thanks! Saved as **{correct}** for the next training run."
