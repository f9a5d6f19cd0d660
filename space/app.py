"""Clean or Messy: the Gradio app, also the Hugging Face Space entry point.

    MODEL_ID=models/clean-or-messy EXAMPLES_DIR=../shared/data/rooms/validation \\
        python space/app.py --host 127.0.0.1 --port 7860

It runs unchanged as a Space (``app_file: space/app.py``; the Space holds ``space/*.py`` and
``cleanmessy/`` in this repository's layout). Settings: see ``space/README.md``.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

# `python space/app.py` puts space/ first on sys.path; the core package and `space.*` live one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio rebuilds a pandas summary of every past event after each request (4.7 ms at 400 events, 9.9 ms at
# 10 000, on this 2-core box); it only feeds the /monitoring page, which we turn off.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(10**9))

import gradio as gr  # noqa: E402

from cleanmessy import Predictor, settings  # noqa: E402
from space.config import SpaceConfig, parse_args  # noqa: E402
from space.examples import find_examples  # noqa: E402
from space.service import SpaceService  # noqa: E402

logger = logging.getLogger("space")

TITLE = "Clean or Messy?"
THEME = gr.themes.Default()  # fonts ship with gradio (LocalFont): nothing is fetched from the internet


def intro(threshold: float) -> str:
    return (
        f"# 🧹 {TITLE}\n"
        "Drop in a photo of a room (upload, drag and drop, paste, or take one with your camera) and get a "
        "verdict that settles the argument. The heatmap shows **which parts look messy**: the brighter, the "
        f"more that spot pushes the verdict toward *messy*. Below {threshold:.0%} confidence the answer is "
        "*hard to say*."
    )


def build_demo(service: SpaceService, config: SpaceConfig, examples: list[str]) -> gr.Blocks:
    """The page (single photo, batch tab) and the API endpoints ``/predict`` and ``/predict_batch``."""
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(intro(service.predictor.unsure_below))
        with gr.Tab("One photo"):
            with gr.Row():
                with gr.Column():
                    photo = gr.Image(
                        sources=["upload", "webcam", "clipboard"], type="filepath", label="Your room",
                        elem_id="photo", height=420,
                    )
                    if examples:
                        gr.Examples(examples=examples, inputs=photo, label="Examples from the training data",
                                    examples_per_page=12)
                with gr.Column():
                    verdict = gr.Markdown(elem_id="verdict")
                    meter = gr.Label(num_top_classes=2, label="Confidence", elem_id="meter")
                    heatmap = gr.Image(label="Where the mess is", type="pil", format="jpeg", interactive=False,
                                       elem_id="heatmap", height=420)
                    with gr.Row():
                        right = gr.Button("👍 Right", interactive=False, elem_id="right")
                        wrong = gr.Button("👎 Wrong", interactive=False, elem_id="wrong")
                    thanks = gr.Markdown(elem_id="thanks")
            last = gr.State(None)

        with gr.Tab("Several photos"):
            files = gr.File(file_count="multiple", file_types=["image"], label="Photos", elem_id="files")
            check_all = gr.Button("Check them all", variant="primary", elem_id="check-all")
            gallery = gr.Gallery(label="Verdicts", columns=4, height=360, object_fit="contain", elem_id="gallery")
            table = gr.Markdown(elem_id="table")

        def check(payload):
            if not payload:
                return "", None, None, None, gr.update(interactive=False), gr.update(interactive=False), ""
            text, scores, overlay, state = service.check(payload)
            enabled = gr.update(interactive=True)
            return text, scores, overlay, state, enabled, enabled, ""

        def feedback(model_was_right: bool):
            def record(state):
                message = service.record_feedback(state, model_was_right)
                return message, gr.update(interactive=False), gr.update(interactive=False)
            return record

        photo.change(check, photo, [verdict, meter, heatmap, last, right, wrong, thanks],
                     preprocess=False, api_name="check", api_visibility="undocumented")
        right.click(feedback(True), last, [thanks, right, wrong], api_name="feedback_right",
                    api_visibility="undocumented")
        wrong.click(feedback(False), last, [thanks, right, wrong], api_name="feedback_wrong",
                    api_visibility="undocumented")
        check_all.click(service.check_many, files, [gallery, table], preprocess=False, api_visibility="private")

        def predict(image: gr.FileData) -> dict:
            """Classify one room photo: {"label": "clean"|"messy", "confidence": 0-1, "scores": {...}, "unsure": bool,
            "not_a_room": bool} (label and scores are the clean/messy leaning even when not_a_room is true)."""
            return service.predict(image)

        def predict_batch(images: list[gr.FileData]) -> list[dict]:
            """Classify several photos in shared passes: one dict per photo, in order, with "file", and "error" for a bad one."""
            return service.predict_many(images)

        gr.api(predict, api_name="predict", concurrency_limit=config.api_concurrency)
        gr.api(predict_batch, api_name="predict_batch", concurrency_limit=config.concurrency)

    demo.queue(default_concurrency_limit=config.concurrency, max_size=config.queue_size)
    return demo


def launch(demo: gr.Blocks, config: SpaceConfig, *, block: bool = True):
    """Start the server with the serving limits; return ``(app, url)``."""
    app, url, _ = demo.launch(
        server_name=config.host,
        server_port=config.port,
        max_file_size=config.max_file_bytes,
        theme=THEME,
        show_error=False,
        quiet=True,
        ssr_mode=False,
        run_history=False,
        enable_monitoring=False,
        prevent_thread_lock=not block,
    )
    return app, url


def main(argv: list[str] | None = None) -> None:
    """Load the model once, gather the examples, serve."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    model_id = settings.model_id()
    predictor = Predictor.load(model_id, preload_model=True)  # every check draws a heatmap: load PyTorch now
    service = SpaceService(predictor, max_batch=config.max_batch, feedback_dir=settings.feedback_dir())
    examples = find_examples(model_id, folder=config.examples_dir, dataset=config.examples_dataset,
                             per_label=config.examples_per_label)
    demo = build_demo(service, config, examples)
    _, url = launch(demo, config, block=False)
    print(f"==> {TITLE} is serving {model_id} on {url} ({len(examples)} examples, feedback to "
          f"{settings.feedback_dir()})", flush=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
